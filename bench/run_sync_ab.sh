#!/usr/bin/env bash
# The single-hub cost of grove::cross_thread on the synchronization primitives: main's
# sync_bench against this tree's, alternated ROUNDS times on one pinned CPU, medians at the end.
# Builds both (release) if missing: main from `git archive main` in $MAIN_DIR, this tree in
# build-release. Each line starts with the 1-minute load average.
#   bench/run_sync_ab.sh                         mutex 1000 1000, 7 rounds, CPU 1
#   ROUNDS=9 PIN_CPU=0 bench/run_sync_ab.sh channel 2000000
#   bench/run_sync_ab.sh select                  one-hub select ping-pong (select's fairness)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MAIN_DIR=${MAIN_DIR:-/tmp/grove-sync-ab-main}
ROUNDS=${ROUNDS:-7}
PIN_CPU=${PIN_CPU:-1}
args=("$@")
((${#args[@]})) || args=(mutex 1000 1000)

# Rebuilt when main has moved since (a copy left by an earlier session is main of then).
if [[ ! -x $MAIN_DIR/build/bench/sync_bench ||
      $(cat "$MAIN_DIR/.main_commit" 2>/dev/null) != $(git rev-parse main) ]]; then
  rm -rf "$MAIN_DIR" && mkdir -p "$MAIN_DIR"
  git archive main | tar -x -C "$MAIN_DIR"
  meson setup "$MAIN_DIR/build" "$MAIN_DIR" --buildtype=release -Dtests=false -Dsamples=false >/dev/null
  git rev-parse main >"$MAIN_DIR/.main_commit"
fi
# Both sides run this tree's workloads (a mode added here runs on main too): only the library
# and its headers differ.
cp bench/sync_bench.cpp bench/bench_util.hpp "$MAIN_DIR/bench/"  # its helpers may be newer
ninja -C "$MAIN_DIR/build" bench/sync_bench >/dev/null
[[ -d build-release ]] ||
  meson setup build-release --buildtype=release -Dtests=false -Dsamples=false >/dev/null
ninja -C build-release bench/sync_bench >/dev/null

load() { cut -d' ' -f1 /proc/loadavg; }
declare -A figures
for i in $(seq 1 "$ROUNDS"); do
  for side in main branch; do
    bin=$MAIN_DIR/build/bench/sync_bench
    [[ $side == branch ]] && bin=build-release/bench/sync_bench
    out=$(taskset -c "$PIN_CPU" "$bin" "${args[@]}")
    echo "$side load=$(load) $out"
    figures[$side]+="$(echo "$out" | grep -o '=[0-9.]*' | head -1 | tr -d =) "
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
m=$(echo "${figures[main]}" | median)
b=$(echo "${figures[branch]}" | median)
echo "median: main $m, branch $b, branch/main $(awk -v a="$b" -v b="$m" 'BEGIN {printf "%.3f", a / b}') (sync_bench ${args[*]}, load $(load))"
