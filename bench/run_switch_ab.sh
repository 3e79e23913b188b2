#!/usr/bin/env bash
# Yield cost A/B (issue 10): this tree's switch_bench against MAIN_REF's library, run
# alternately RUNS times on one pinned CPU; prints each run's line, then the medians of the
# in-process ratios to raw boost::context::fiber (spawned_vs_raw, main_vs_raw) and of the CPU
# ns per switch. Both sides run this tree's bench/switch_bench.cpp (it measures the raw peer in
# the same process), so only the library and its inline yield differ.
#   bench/run_switch_ab.sh                    RUNS=7, CPU 1, 20M switches in 9 rounds a run
#   MAIN_REF=6b15410 RUNS=9 bench/run_switch_ab.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MAIN_REF=${MAIN_REF:-main}
MAIN_DIR=${MAIN_DIR:-/tmp/grove-switch-ab-$(git rev-parse --short "$MAIN_REF")}
RUNS=${RUNS:-7}
PIN_CPU=${PIN_CPU:-1}

if [[ ! -d $MAIN_DIR ]]; then
  mkdir -p "$MAIN_DIR"
  git archive "$MAIN_REF" | tar -x -C "$MAIN_DIR"
fi
# bench_util.hpp too: switch_bench.cpp may use helpers an older main lacks (a header only).
cp bench/switch_bench.cpp bench/bench_util.hpp "$MAIN_DIR/bench/"
for dir in "$MAIN_DIR" "$ROOT"; do
  [[ -f $dir/build-release/build.ninja ]] ||
    meson setup "$dir/build-release" "$dir" --buildtype=release -Dtests=false -Dsamples=false \
      >/dev/null
  ninja -C "$dir/build-release" bench/switch_bench >/dev/null
done

declare -A figures
keys=(spawned_vs_raw main_vs_raw cpu_ns_per_switch main_cpu_ns_per_switch raw_cpu_ns_per_switch)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((run = 1; run <= RUNS; run++)); do
  for side in main branch; do
    dir=$MAIN_DIR
    [[ $side == branch ]] && dir=$ROOT
    out=$(taskset -c "$PIN_CPU" "$dir/build-release/bench/switch_bench")
    echo "$side $out"
    for key in "${keys[@]}"; do
      figures[$side.$key]+="$(echo "$out" | tr ' ' '\n' | sed -n "s/^$key=//p") "
    done
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
for key in "${keys[@]}"; do
  printf '%-24s main %8s  branch %8s\n' "$key" "$(echo "${figures[main.$key]}" | median)" \
    "$(echo "${figures[branch.$key]}" | median)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)  (main = $MAIN_REF, branch = $(git rev-parse --short HEAD))"
