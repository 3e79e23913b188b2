#!/usr/bin/env bash
# Subprocess, offload and file benchmarks (issue 8), each run RUNS times; prints the median of
# every key=value figure (with min and max), peers beside grove in the same run.
#
#   bench/run_proc_bench.sh [FILTER...]   run only benchmarks whose name contains a FILTER
#
# Environment: RUNS=5, CHILDREN=1000, CONCURRENCY=50, RSS_MIB=1024 (parent footprint for the
# page-table test), FILE_MIB=1024 (file read while TICKERS=10000 fibers tick), FILE_PATH
# (default $BUILD_DIR/fs_bench.dat), BUILD_DIR=build-bench, GROVE_BENCH=build-release/bench.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RUNS=${RUNS:-5}
CHILDREN=${CHILDREN:-1000}
CONCURRENCY=${CONCURRENCY:-50}
RSS_MIB=${RSS_MIB:-1024}
FILE_MIB=${FILE_MIB:-1024}
TICKERS=${TICKERS:-10000}
OFFLOAD_N=${OFFLOAD_N:-20000}
BUILD_DIR=${BUILD_DIR:-build-bench}
GROVE_BENCH=${GROVE_BENCH:-build-release/bench}
FILE_PATH=${FILE_PATH:-$BUILD_DIR/fs_bench.dat}
PEERS_BIN=$BUILD_DIR/peers
RAW_DIR=$BUILD_DIR/raw
FILTERS=("$@")

source scripts/ensure_deps.sh
ensure_packages "${grove_base_packages[@]}" golang-go python3-gevent
mkdir -p "$PEERS_BIN" "$RAW_DIR"
if [[ ! -x $PEERS_BIN/go_exec || bench/peers/go_exec/main.go -nt $PEERS_BIN/go_exec ]]; then
  (cd bench/peers && GOPATH="$ROOT/$BUILD_DIR/gopath" GOCACHE="$ROOT/$BUILD_DIR/go-cache" \
    GOPROXY=off GOFLAGS='' GO111MODULE=on go build -o "$ROOT/$PEERS_BIN/go_exec" ./go_exec)
fi
configure_build build-release --buildtype=release -Dtests=false -Dsamples=false
ninja -C build-release bench/process_bench bench/fs_bench >/dev/null

selected() {
  local name=$1 filter
  ((${#FILTERS[@]} == 0)) && return 0
  for filter in "${FILTERS[@]}"; do [[ $name == *"$filter"* ]] && return 0; done
  return 1
}

# run_median NAME CMD...: runs CMD $RUNS times; one row per key: median, min, max.
run_median() {
  local name=$1
  shift
  selected "$name" || return 0
  local log=$RAW_DIR/$name.log run output
  : >"$log"
  for ((run = 1; run <= RUNS; run++)); do
    if ! output=$("$@" 2>>"$log"); then
      printf '%-22s %s\n' "$name" "(FAILED on run $run, see $log)"
      return 0
    fi
    echo "$output" >>"$log"
  done
  awk -v name="$name" '
    function show(v) { return (v == int(v)) ? sprintf("%.0f", v) : sprintf("%.2f", v) }
    { for (i = 1; i <= NF; i++) { eq = index($i, "="); if (eq < 2) continue
        key = substr($i, 1, eq - 1); value = substr($i, eq + 1)
        if (value !~ /^-?[0-9]+(\.[0-9]+)?$/) continue
        if (!(key in count)) order[++keys] = key
        samples[key, ++count[key]] = value + 0 } }
    END { for (k = 1; k <= keys; k++) { key = order[k]; n = count[key]
        for (i = 1; i <= n; i++) s[i] = samples[key, i]
        for (i = 2; i <= n; i++) { v = s[i]; for (j = i - 1; j >= 1 && s[j] > v; j--) s[j + 1] = s[j]; s[j + 1] = v }
        m = (n % 2) ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
        printf "%-22s %-22s %12s %12s %12s %5d\n", name, key, show(m), show(s[1]), show(s[n]), n
        name = "" } }' "$log"
}

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -r)  $(nproc) cpus  RUNS=$RUNS  load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %-22s %12s %12s %12s %5s\n' benchmark metric median min max runs

# spawn + wait of CHILDREN /bin/true, CONCURRENCY at a time.
run_median grove_spawn_wait "$GROVE_BENCH/process_bench" spawn "$CHILDREN" "$CONCURRENCY"
run_median go_exec_spawn_wait "$PEERS_BIN/go_exec" "$CHILDREN" "$CONCURRENCY"
run_median gevent_spawn_wait /usr/bin/python3 bench/peers/gevent_spawn.py "$CHILDREN" "$CONCURRENCY"

# Page tables: a parent with RSS_MIB touched, posix_spawn (grove) vs fork + exec.
run_median spawn_large_parent "$GROVE_BENCH/process_bench" rss "$RSS_MIB" 20

# Offload round trip of an empty function vs std::async.
run_median offload_round_trip "$GROVE_BENCH/process_bench" offload "$OFFLOAD_N"

# FILE_MIB read in 1 MiB blocks from a cold cache while TICKERS fibers tick every 10 ms.
for mode in io_uring pool blocking; do
  run_median "file_read_$mode" "$GROVE_BENCH/fs_bench" "$FILE_PATH" "$FILE_MIB" "$TICKERS" "$mode"
done
# The same file from the page cache (a read is a memory copy).
for mode in io_uring pool blocking; do
  run_median "warm_read_$mode" env FS_BENCH_WARM=1 "$GROVE_BENCH/fs_bench" "$FILE_PATH" \
    "$FILE_MIB" "$TICKERS" "$mode"
done
