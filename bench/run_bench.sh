#!/usr/bin/env bash
# Foundation benchmarks: builds the peer programs in bench/peers/ and runs each one RUNS times,
# printing the median of every `key=value` figure it reports.
#
#   bench/run_bench.sh [FILTER...]     run only benchmarks whose name contains a FILTER
#
# Environment:
#   RUNS=5                   runs per benchmark (the median is reported, with min and max)
#   BUILD_DIR=build-bench    peers go to $BUILD_DIR/peers/, each run's raw output to
#                            $BUILD_DIR/raw/<name>.log
#   SPAWN_N=1000000          fibers/goroutines for the spawn and timer benchmarks
#   TIMERS_RATE=100000       the paced timer rows: fibers/goroutines started a second
#   IDLE_N=1000000           fibers/goroutines for the idle-memory benchmark
#   GROVE_BENCH=build-release/bench   where grove's own benchmark binaries are (see below)
#   ROUND_TRIPS=5000000      channel ping-pong round trips (two messages each)
#   CROSS_ROUND_TRIPS=200000 the same between two threads (two hubs, GOMAXPROCS=2, two
#                            Boost.Fiber threads); these runs are pinned to CROSS_PIN_CPUS=0,1
#   CROSS_THREADS_ROUND_TRIPS=10000  the same for Go with each goroutine on its own thread
#   STREAM_ITEMS=1000000     items of the cross-thread streaming rows (a quarter for Go's locked
#                            threads)
#   MUTEX_FIBERS=1000 MUTEX_ROUNDS=1000   contending fibers and rounds of the mutex benchmark
#   CURL_FIBERS=50           fibers (and multi handles) of the libcurl benchmark
#
#   PIN_CPUS=1               every run is pinned to these CPUs (taskset -c); empty: unpinned
#
# Every peer warms up before it times anything. The machine's 1-minute load average when each
# benchmark starts is printed in the `load` column: on a shared machine, read figures beside it.
# Runs at default kernel settings: nothing raises vm.max_map_count (a million guarded stacks
# fit the default 65530 where the kernel has guard regions, Linux >= 6.13).
#
# Each peer prints one line of `key=value` tokens; run_median takes the median per key over the
# runs. grove's benchmarks follow the same contract so that they can sit in the same table.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RUNS=${RUNS:-5}
BUILD_DIR=${BUILD_DIR:-build-bench}
SPAWN_N=${SPAWN_N:-1000000}
TIMERS_RATE=${TIMERS_RATE:-100000}
IDLE_N=${IDLE_N:-1000000}
GROVE_BENCH=${GROVE_BENCH:-build-release/bench}
ROUND_TRIPS=${ROUND_TRIPS:-5000000}
MUTEX_FIBERS=${MUTEX_FIBERS:-1000}
MUTEX_ROUNDS=${MUTEX_ROUNDS:-1000}
PIN_CPUS=${PIN_CPUS-1}
PIN=()
[[ -n $PIN_CPUS ]] && PIN=(taskset -c "$PIN_CPUS")
PEERS_SRC=bench/peers
PEERS_BIN=$BUILD_DIR/peers
RAW_DIR=$BUILD_DIR/raw
FILTERS=("$@")

CXX=${CXX:-g++}
CXXFLAGS=${CXXFLAGS:--O2 -std=c++20 -Wall -Wextra}

# --- build ----------------------------------------------------------------------------------

# needs_build OUTPUT INPUT...: true when OUTPUT is missing or older than any INPUT.
needs_build() {
  local out=$1
  shift
  [[ -e $out ]] || return 0
  local input
  for input in "$@"; do
    [[ $input -nt $out ]] && return 0
  done
  return 1
}

build_cxx_peer() {
  local name=$1
  local src=$PEERS_SRC/$name.cpp out=$PEERS_BIN/$name
  if needs_build "$out" "$src" "$PEERS_SRC"/*.hpp; then
    echo "build: $out" >&2
    # shellcheck disable=SC2086  # CXXFLAGS is a list of flags
    "$CXX" $CXXFLAGS "$src" -o "$out" -lboost_fiber -lboost_context
  fi
}

build_go_peer() {
  local name=$1
  local out=$PEERS_BIN/$name
  if needs_build "$out" "$PEERS_SRC/$name/main.go" "$PEERS_SRC/go.mod"; then
    echo "build: $out" >&2
    # Offline and self-contained: standard library only, caches inside the build dir.
    (cd "$PEERS_SRC" &&
      GOPATH="$ROOT/$BUILD_DIR/gopath" GOCACHE="$ROOT/$BUILD_DIR/go-cache" \
        GOPROXY=off GOFLAGS='' GO111MODULE=on \
        go build -o "$ROOT/$out" "./$name")
  fi
}

build_peers() {
  mkdir -p "$PEERS_BIN" "$RAW_DIR"
  local name
  for name in raw_context_switch boost_fiber_switch boost_fiber_spawn boost_fiber_channel \
    boost_fiber_channel_threads boost_fiber_mutex; do
    build_cxx_peer "$name"
  done
  for name in go_switch go_spawn go_idle_memory go_timers go_channel; do
    build_go_peer "$name"
  done
}

# --- running ----------------------------------------------------------------------------------

selected() {
  local name=$1 filter
  ((${#FILTERS[@]} == 0)) && return 0
  for filter in "${FILTERS[@]}"; do
    [[ $name == *"$filter"* ]] && return 0
  done
  return 1
}

print_header() {
  printf '%-26s %-24s %12s %12s %12s %5s %6s\n' benchmark metric median min max runs load
  printf '%-26s %-24s %12s %12s %12s %5s %6s\n' -------------------------- \
    ------------------------ ------------ ------------ ------------ ----- ------
}

# run_median NAME CMD...: runs CMD $RUNS times, parses the `key=value` tokens of its stdout and
# prints one table row per key: median, min and max over the runs. A failing run is reported
# and the benchmark skipped. Raw output goes to $RAW_DIR/NAME.log.
run_median() {
  local name=$1
  shift
  selected "$name" || return 0
  if [[ ! -x $1 ]]; then
    printf '%-26s %s\n' "$name" "(skipped: $1 not built)"
    return 0
  fi
  local log=$RAW_DIR/$name.log run output load
  load=$(cut -d' ' -f1 /proc/loadavg)
  : >"$log"
  for ((run = 1; run <= RUNS; run++)); do
    if ! output=$("${PIN[@]}" "$@" 2>>"$log"); then
      printf '%-26s %s\n' "$name" "(FAILED on run $run, see $log)"
      return 0
    fi
    echo "$output" >>"$log"
  done
  # Every whitespace-separated token of the form key=number is a sample of `key`.
  awk -v name="$name" -v load="$load" '
    function show(v) {                        # integers whole, fractions to 2 places
      return (v == int(v)) ? sprintf("%.0f", v) : sprintf("%.2f", v)
    }
    {
      for (i = 1; i <= NF; i++) {
        eq = index($i, "=")
        if (eq < 2) continue
        key = substr($i, 1, eq - 1); value = substr($i, eq + 1)
        if (value !~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/) continue
        if (!(key in count)) order[++keys] = key
        samples[key, ++count[key]] = value + 0
      }
    }
    END {
      for (k = 1; k <= keys; k++) {
        key = order[k]; n = count[key]
        for (i = 1; i <= n; i++) sorted[i] = samples[key, i]
        for (i = 2; i <= n; i++) {            # insertion sort: n is small
          v = sorted[i]
          for (j = i - 1; j >= 1 && sorted[j] > v; j--) sorted[j + 1] = sorted[j]
          sorted[j + 1] = v
        }
        median = (n % 2) ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
        printf "%-26s %-24s %12s %12s %12s %5d %6s\n", name, key, show(median), show(sorted[1]),
          show(sorted[n]), n, load
        name = ""; load = ""                  # print the name and load once
      }
    }' "$log"
}

# --- the benchmarks ---------------------------------------------------------------------------

# grove's own benchmarks: a release build of this tree; the peers need Boost.Fiber and Go.
source scripts/ensure_deps.sh
ensure_packages "${grove_base_packages[@]}" libboost-fiber1.81-dev golang-go libcurl4-openssl-dev
build_peers
configure_build build-release --buildtype=release -Dtests=false -Dsamples=false
ninja -C build-release >/dev/null

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -r)  $(nproc) cpus  RUNS=$RUNS  pinned to CPU ${PIN_CPUS:-none}  vm.max_map_count=$(cat /proc/sys/vm/max_map_count)  $(
  grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
print_header

# Context switch: one switch = one resume/jump/yield, both directions counted.
run_median raw_fiber_switch      "$PEERS_BIN/raw_context_switch" fiber
run_median raw_fcontext_switch   "$PEERS_BIN/raw_context_switch" fcontext
run_median boost_fiber_yield     "$PEERS_BIN/boost_fiber_switch"
run_median go_gosched_switch     "$PEERS_BIN/go_switch"
# grove: two spawned fibers (ns_per_switch) and the main fiber with a spawned one
# (main_ns_per_switch).
run_median grove_switch          "$GROVE_BENCH/switch_bench"

# Spawn + join of trivial fibers/goroutines.
run_median boost_fiber_spawn     "$PEERS_BIN/boost_fiber_spawn" "$SPAWN_N"
run_median go_spawn              "$PEERS_BIN/go_spawn" "$SPAWN_N"
# grove: spawn + join, warm (ns_per_fiber) and first round (cold_ns_per_fiber).
run_median grove_spawn           "$GROVE_BENCH/spawn_bench" "$SPAWN_N"

# Memory per idle (blocked) fiber/goroutine.
run_median go_idle_memory        "$PEERS_BIN/go_idle_memory" "$IDLE_N"
# grove: fibers asleep on a timer, default stack size, default kernel settings.
run_median grove_idle_memory     "$GROVE_BENCH/idle_memory_bench" "$IDLE_N"

# Timers: SPAWN_N sleepers of random 0-1 s; wall time beyond 1 s and peak RSS.
run_median go_timers             "$PEERS_BIN/go_timers" "$SPAWN_N"
# grove: default stack size.
run_median grove_timers          "$GROVE_BENCH/timer_bench" "$SPAWN_N"
# grove the way go_timers waits (handles dropped, the last sleeper sets an event).
run_median grove_timers_detached "$GROVE_BENCH/timer_bench" "$SPAWN_N" 0 detached
# The same sleepers arriving at TIMERS_RATE a second (as connections would): both runtimes then
# have about as many alive at once, so the peak RSS compares memory per live fiber.
run_median go_timers_paced       "$PEERS_BIN/go_timers" "$SPAWN_N" "$TIMERS_RATE"
run_median grove_timers_paced    "$GROVE_BENCH/timer_bench" "$SPAWN_N" 0 detached "$TIMERS_RATE"
# The hub's timer design: one heap + one Asio timer vs an Asio steady_timer per wait.
run_median timer_strategy        "$GROVE_BENCH/timer_strategy_bench" "$SPAWN_N"

# Synchronization (issue 3). Unbuffered channel ping-pong between two fibers/goroutines
# (ns_per_message = time / messages, two per round trip) and a mutex handed over among
# MUTEX_FIBERS contending fibers doing `lock; yield; unlock; yield` (ns_per_lock).
run_median grove_channel_pingpong  "$GROVE_BENCH/sync_bench" channel "$ROUND_TRIPS"
run_median go_channel_pingpong     "$PEERS_BIN/go_channel" "$ROUND_TRIPS"
run_median boost_fiber_channel     "$PEERS_BIN/boost_fiber_channel" "$ROUND_TRIPS"
run_median grove_mutex_handoff     "$GROVE_BENCH/sync_bench" mutex "$MUTEX_FIBERS" "$MUTEX_ROUNDS"
run_median boost_fiber_mutex       "$PEERS_BIN/boost_fiber_mutex" "$MUTEX_FIBERS" "$MUTEX_ROUNDS"

# Across threads (issue 11): the same unbuffered ping-pong between two threads: grove's two hubs
# over grove::cross_thread channels, Go with GOMAXPROCS=2, Boost.Fiber's channel between two
# threads. Needs two CPUs, so pinned to CROSS_PIN_CPUS instead of PIN_CPUS.
SAVED_PIN=("${PIN[@]}")
PIN=(taskset -c "${CROSS_PIN_CPUS:-0,1}")
CROSS_ROUND_TRIPS=${CROSS_ROUND_TRIPS:-200000}
run_median grove_channel_cross     "$GROVE_BENCH/sync_bench" channel_cross "$CROSS_ROUND_TRIPS"
# The same, with 8 answers in a row after 100 us of the echo's CPU work every 1,000 round trips
# (ns_per_message without that work): what a hub that paused spinning pays afterwards.
run_median grove_channel_cross_slow "$GROVE_BENCH/sync_bench" channel_cross_slow "$CROSS_ROUND_TRIPS"
run_median go_channel_procs2       "$PEERS_BIN/go_channel" "$CROSS_ROUND_TRIPS" 2
# Go with each goroutine locked to its own OS thread: its messages cross threads as grove's do
# (go_channel_procs2's do not: runnext keeps both goroutines on one thread). ~50 us a message,
# so fewer round trips.
run_median go_channel_threads      "$PEERS_BIN/go_channel" "${CROSS_THREADS_ROUND_TRIPS:-10000}" 2 threads
run_median boost_fiber_channel_threads "$PEERS_BIN/boost_fiber_channel_threads" "$CROSS_ROUND_TRIPS"
# Streaming across threads: one fiber / goroutine sends STREAM_ITEMS into a buffered channel,
# one on the other thread receives them (ns per item), at capacities 128 and 1024. Go three
# ways: GOMAXPROCS=2 (in practice one thread), and each goroutine locked to its own thread.
STREAM_ITEMS=${STREAM_ITEMS:-1000000}
for cap in 128 1024; do
  run_median "grove_stream_cross_$cap" "$GROVE_BENCH/sync_bench" stream_cross "$STREAM_ITEMS" "$cap"
  run_median "go_stream_procs2_$cap" "$PEERS_BIN/go_channel" "$STREAM_ITEMS" 2 stream "$cap"
  run_median "go_stream_threads_$cap" "$PEERS_BIN/go_channel" "$((STREAM_ITEMS / 4))" 2 \
    stream_threads "$cap"
done
# The same ping-pong with every send and receive a select over its channel and an idle one:
# grove::select over shared channels vs Go's select, GOMAXPROCS=2.
run_median grove_select_cross      "$GROVE_BENCH/sync_bench" select_cross "$CROSS_ROUND_TRIPS"
run_median go_select_procs2        "$PEERS_BIN/go_channel" "$CROSS_ROUND_TRIPS" 2 select
PIN=("${SAVED_PIN[@]}")

# Shims (issue 7): libcurl requests/s, CURL_FIBERS fibers of plain curl_easy_perform through the
# shims vs one curl_multi handle on one thread (the native asynchronous way), same server, same
# run, alternating rounds (medians inside, then over RUNS).
run_median curl_easy_vs_multi      "$GROVE_BENCH/curl_bench" "${CURL_FIBERS:-50}" 200 5

# Shims (issue 7): a shimmed call outside fibers vs libc's own (passthrough), the same in a
# fiber, and a zero nanosleep in a fiber vs grove::this_fiber::yield.
run_median shims_sleep             "$GROVE_BENCH/shims_sleep_bench"
