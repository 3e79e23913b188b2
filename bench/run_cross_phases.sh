#!/usr/bin/env bash
# Cross-hub ping-pong against Go, matched to what the hardware does at that moment (issue 11).
#
# On this VM a cache line's trip between the two vCPUs costs from ~20 ns to ~200 ns, and the host
# changes it from one second to the next (it moves the vCPUs between cores). Every cross-CPU
# figure moves with it; Go's `go_channel N 2` hardly does, because Go wakes the partner goroutine
# on the waker's own thread (runnext) and so moves almost no line between CPUs. Medians over
# minutes then compare the host's placement more than the code. This script alternates short
# runs, each round:
#
#   spin floor (two threads pass a word back and forth: the hardware alone)
#   grove: sync_bench channel_cross   (two hubs, unbuffered shared channels)
#   Go:    go_channel N 2              (GOMAXPROCS=2)
#   spin floor again
#
# and prints every round, then medians over the rounds the host stole no CPU time from (steal
# ticks in /proc/stat: a stolen vCPU stalls a cross-CPU ping-pong far more than Go's, which
# runs on one thread), and over those whose two floors agree on the phase: fast (both floors
# < FAST_NS) or slow (both >= FAST_NS). Rounds with steal are shown and counted apart.
#
#   bench/run_cross_phases.sh          (ROUNDS=30 FAST_NS=80 GROVE_TRIPS=50000 GO_TRIPS=200000)
#
# Pinned to CPUs 0,1 like bench/run_bench.sh's cross rows. GROVE_BENCH names another build of
# sync_bench (an A/B: run the script once per build, alternately, or set GROVE_BENCH_B to
# alternate two builds inside each round).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ROUNDS=${ROUNDS:-30}
FAST_NS=${FAST_NS:-80}
GROVE_TRIPS=${GROVE_TRIPS:-50000}
GO_TRIPS=${GO_TRIPS:-200000}
FLOOR_MESSAGES=${FLOOR_MESSAGES:-200000}
GROVE_BENCH=${GROVE_BENCH:-build-release/bench/sync_bench}
GROVE_BENCH_B=${GROVE_BENCH_B:-}
GO_CHANNEL=${GO_CHANNEL:-build-bench/peers/go_channel}

# Build what is missing: grove's release benchmarks and Go's peer through run_bench.sh (one
# quick run of its Go row), the floor here.
if [[ ! -x $GROVE_BENCH || ! -x $GO_CHANNEL ]]; then
  RUNS=1 CROSS_ROUND_TRIPS=1000 bench/run_bench.sh go_channel_procs2 >/dev/null
fi
FLOOR=build-release/bench/thread_wake_floor
[[ -x $FLOOR ]] || cc -O2 -pthread bench/peers/thread_wake_floor.c -o "$FLOOR"

PIN=(taskset -c 0,1)
value() {  # value KEY: the number after KEY= on stdin
  sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p"
}
steal() {  # the machine's steal time so far, in clock ticks
  awk '/^cpu /{print $9}' /proc/stat
}

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) ROUNDS=$ROUNDS FAST_NS=$FAST_NS load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%5s %9s %10s %10s %10s %9s %10s %6s\n' round floor grove grove_win go floor2 grove_b steal
rows=()
for ((round = 1; round <= ROUNDS; round++)); do
  stolen_before=$(steal)
  floor=$("${PIN[@]}" "$FLOOR" spin "$FLOOR_MESSAGES" | value ns_per_message)
  out=$("${PIN[@]}" "$GROVE_BENCH" channel_cross "$GROVE_TRIPS")
  grove=$(value ns_per_message <<<"$out")
  grove_win=$(value best_window_ns <<<"$out")
  go=$(GOMAXPROCS=2 "${PIN[@]}" "$GO_CHANNEL" "$GO_TRIPS" 2 | value ns_per_message)
  grove_b=-
  if [[ -n $GROVE_BENCH_B ]]; then
    grove_b=$("${PIN[@]}" "$GROVE_BENCH_B" channel_cross "$GROVE_TRIPS" | value ns_per_message)
  fi
  floor2=$("${PIN[@]}" "$FLOOR" spin "$FLOOR_MESSAGES" | value ns_per_message)
  stolen=$(($(steal) - stolen_before))
  printf '%5d %9s %10s %10s %10s %9s %10s %6s\n' "$round" "$floor" "$grove" "$grove_win" "$go" \
    "$floor2" "$grove_b" "$stolen"
  rows+=("$floor $grove $grove_win $go $floor2 $grove_b $stolen")
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"

printf '%s\n' "${rows[@]}" | awk -v fast="$FAST_NS" '
  function median(list, n,   i, j, v, s) {
    for (i = 1; i <= n; i++) s[i] = list[i]
    for (i = 2; i <= n; i++) {
      v = s[i]
      for (j = i - 1; j >= 1 && s[j] > v; j--) s[j + 1] = s[j]
      s[j + 1] = v
    }
    return n == 0 ? "-" : ((n % 2) ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2)
  }
  function add(phase) {
    k = ++count[phase]
    floors[phase, k] = ($1 + $5) / 2; groves[phase, k] = $2; wins[phase, k] = $3
    gos[phase, k] = $4; bs[phase, k] = $6
    if ($2 < $4) ahead[phase]++
  }
  {
    add("every")
    if ($7 > 0) { add("stolen"); next }
    add("unstolen")
    if ($1 < fast && $5 < fast) add("fast")
    else if ($1 >= fast && $5 >= fast) add("slow")
  }
  END {
    printf "%-8s %6s %9s %9s %9s %9s %9s %11s\n", "phase", "rounds", "floor", "grove", "grove_win",
      "go", "grove_b", "grove<go"
    split("every stolen unstolen fast slow", phases, " ")
    for (p = 1; p <= 5; p++) {
      ph = phases[p]; n = count[ph] + 0
      for (i = 1; i <= n; i++) {
        f[i] = floors[ph, i]; g[i] = groves[ph, i]; w[i] = wins[ph, i]; o[i] = gos[ph, i]
        b[i] = bs[ph, i]
      }
      printf "%-8s %6d %9s %9s %9s %9s %9s %7d/%-3d\n", ph, n, median(f, n), median(g, n),
        median(w, n), median(o, n), (b[1] == "-" ? "-" : median(b, n)), ahead[ph], n
    }
  }'
