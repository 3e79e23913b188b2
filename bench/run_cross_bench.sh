#!/usr/bin/env bash
# Cross-hub wake path (issue 11), A/B in one run: this tree's sync_bench against main's (built
# in /tmp from `git archive main`), run alternately, beside the machine's floor for a thread
# wake-up (bench/peers/thread_wake_floor.c). Prints the median of each over RUNS runs and the
# load average before and after.
#
#   bench/run_cross_bench.sh            (RUNS=7 CROSS_ROUND_TRIPS=100000 ROUND_TRIPS=1000000)
#
# channel_cross runs pinned to CPUs 0,1 (two hubs), channel (one hub) to CPU 1, as in
# bench/run_bench.sh. Go and Boost.Fiber on the same workload:
#   bench/run_bench.sh channel_cross go_channel_procs2 boost_fiber_channel_threads
# Environment: MAIN_REF=main (what to compare with), MAIN_DIR=/tmp/grove-cross-main.
# CROSS_FIFO=1 runs grove's two builds (only those) under `chrt -f 10` (root), so that on a
# loaded machine the compilers do not preempt the spinning hubs; never the floor (its threads
# pin themselves one after the other and would starve each other under SCHED_FIFO).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-7}
CROSS_ROUND_TRIPS=${CROSS_ROUND_TRIPS:-100000}
ROUND_TRIPS=${ROUND_TRIPS:-1000000}
MAIN_REF=${MAIN_REF:-main}
MAIN_DIR=${MAIN_DIR:-/tmp/grove-cross-main}

build_release() {  # build_release SOURCE_DIR
  local dir=$1
  [[ -f $dir/build-release/build.ninja ]] ||
    meson setup "$dir/build-release" "$dir" --buildtype=release -Dsamples=false -Dtests=false \
      -Dbenchmarks=true >/dev/null
  ninja -C "$dir/build-release" bench/sync_bench >/dev/null
}

if [[ ! -d $MAIN_DIR ]]; then
  mkdir -p "$MAIN_DIR"
  git archive "$MAIN_REF" | tar -x -C "$MAIN_DIR"
fi
build_release "$MAIN_DIR"
build_release "$ROOT"
FLOOR=build-release/bench/thread_wake_floor
cc -O2 -pthread bench/peers/thread_wake_floor.c -o "$FLOOR"

GROVE_PRIO=()
[[ ${CROSS_FIFO:-0} == 1 ]] && GROVE_PRIO=(timeout -s KILL 60 chrt -f 10)

declare -A samples
sample() {  # sample NAME CMD...: appends the run's ns_per_message to samples[NAME] (and its
  # best_window_ns, the fastest 100 round trips, to samples[NAME_win] when it prints one)
  local name=$1 out
  shift
  out=$("$@")
  samples[$name]+="$(sed -n 's/.*ns_per_message=\([0-9.]*\).*/\1/p' <<<"$out") "
  if [[ $out == *best_window_ns=* ]]; then
    samples[${name}_win]+="$(sed -n 's/.*best_window_ns=\([0-9.]*\).*/\1/p' <<<"$out") "
  fi
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((run = 1; run <= RUNS; run++)); do
  sample main_cross "${GROVE_PRIO[@]}" taskset -c 0,1 \
    "$MAIN_DIR/build-release/bench/sync_bench" channel_cross \
    "$CROSS_ROUND_TRIPS"
  sample branch_cross "${GROVE_PRIO[@]}" taskset -c 0,1 build-release/bench/sync_bench \
    channel_cross \
    "$CROSS_ROUND_TRIPS"
  sample futex_floor taskset -c 0,1 "$FLOOR" futex 20000
  sample spin_floor taskset -c 0,1 "$FLOOR" spin 1000000
  sample main_channel "${GROVE_PRIO[@]}" taskset -c 1 \
    "$MAIN_DIR/build-release/bench/sync_bench" channel \
    "$ROUND_TRIPS"
  sample branch_channel "${GROVE_PRIO[@]}" taskset -c 1 build-release/bench/sync_bench channel \
    "$ROUND_TRIPS"
done
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-15s %12s   %s\n' what median "ns/message, every run sorted"
for name in main_cross branch_cross main_cross_win branch_cross_win futex_floor spin_floor \
  main_channel branch_channel; do
  [[ -n ${samples[$name]:-} ]] || continue  # main_cross_win: a main without best_window_ns
  sorted=$(tr ' ' '\n' <<<"${samples[$name]}" | grep . | sort -g | tr '\n' ' ')
  median=$(tr ' ' '\n' <<<"$sorted" | grep . | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  printf '%-15s %12s   %s\n' "$name" "$median" "$sorted"
done
