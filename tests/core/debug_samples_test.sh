#!/usr/bin/env bash
# The samples of <grove/debug.hpp>, run as a user would:
#   cpu_pitfall under GROVE_MONITOR_MS=50: the monitor names the fiber that holds the hub
#   ('cruncher', case 1) and its backtrace;
#   dump --self-test: the SIGUSR1 dump lists the server's fibers and what they wait on.
# Usage: debug_samples_test.sh <cpu_pitfall> <dump>
set -euo pipefail
pitfall=$1
dump=$2

out=$(GROVE_MONITOR_MS=50 timeout 120 "$pitfall" --work-ms 300 2>&1)
echo "$out"
grep -qE "grove: monitor: fiber [0-9]+ 'cruncher' has held the hub of thread [0-9]+ for [0-9]+ ms" <<<"$out" ||
  { echo "FAIL: the monitor did not name the cruncher fiber"; exit 1; }
grep -q "end of backtrace" <<<"$out" || { echo "FAIL: no backtrace"; exit 1; }

out=$(timeout 60 "$dump" --self-test 2>&1)
echo "$out"
for expected in "'worker' suspended: queue 0x" "'flusher' suspended: sleep, timer in" \
    "'janitor' suspended: event 0x" "readable (socket:" "waits at " "spawned at "; do
  grep -qF "$expected" <<<"$out" || { echo "FAIL: the dump lacks: $expected"; exit 1; }
done

# Bad arguments: one clear line, non-zero exit; --help: usage, zero.
"$dump" --help | grep -q "usage: dump"
if "$dump" --port nope 2>/tmp/dump_bad_arg.$$; then echo "FAIL: bad port accepted"; exit 1; fi
[[ $(wc -l </tmp/dump_bad_arg.$$) -eq 1 ]] || { cat /tmp/dump_bad_arg.$$; exit 1; }
rm -f /tmp/dump_bad_arg.$$
echo "debug samples: ok"
