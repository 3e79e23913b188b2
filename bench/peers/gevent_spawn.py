# gevent's subprocess: spawn + wait N /bin/true children, C at a time (a gevent Pool), the peer
# of grove's `process_bench spawn N C` (Debian's python3-gevent).
#   python3 gevent_spawn.py N C
import sys
import time

from gevent import subprocess
from gevent.pool import Pool


def main():
    if len(sys.argv) != 3:
        print("usage: gevent_spawn.py N C", file=sys.stderr)
        sys.exit(2)
    n, c = int(sys.argv[1]), int(sys.argv[2])
    for _ in range(20):  # warm up
        subprocess.call(["/bin/true"])
    failed = 0

    def one(_):
        return subprocess.call(["/bin/true"])

    start = time.perf_counter()
    for code in Pool(c).imap_unordered(one, range(n)):
        failed += code != 0
    us = (time.perf_counter() - start) * 1e6
    print(f"total_ms={us / 1000:.1f} us_per_child={us / n:.1f} failed={failed}")


if __name__ == "__main__":
    main()
