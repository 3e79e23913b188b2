#!/usr/bin/env bash
# The blocking monitor's cost on the switch path: main's switch_bench against this tree's, with
# the monitor off and on (GROVE_MONITOR_MS=50), alternated ROUNDS times, pinned to CPU 0; each
# line starts with the 1-minute load average. MAIN=<a release build of main's switch_bench>
# (e.g. `git archive main | tar -x -C /tmp/m && meson setup /tmp/m/b --buildtype=release
# -Dtests=false -Dsamples=false && ninja -C /tmp/m/b bench/switch_bench`).
#   N=10000000 ROUNDS=7 MAIN=/tmp/m/b/bench/switch_bench bench/run_monitor_ab.sh
set -u
main=${MAIN:?a release build of main's switch_bench}
diag=$(cd "$(dirname "$0")/.." && pwd)/build-release/bench/switch_bench
N=${N:-5000000}
for i in $(seq 1 ${ROUNDS:-5}); do
  echo "main $(uptime | sed 's/.*load average: //' | cut -d, -f1) $(taskset -c 0 $main $N)"
  echo "off  $(uptime | sed 's/.*load average: //' | cut -d, -f1) $(taskset -c 0 $diag $N)"
  echo "on   $(uptime | sed 's/.*load average: //' | cut -d, -f1) $(GROVE_MONITOR_MS=50 taskset -c 0 $diag $N)"
done
