#!/usr/bin/env bash
# HTTP benchmark (issue 4): the http_server sample under wrk, beside Go's net/http (same run,
# same load), and the memory of idle long polls.
#
#   bench/run_http_bench.sh
#
# 1. Throughput: `wrk -t1 -c$CONNECTIONS -d${SECONDS_PER_RUN}s --latency` on GET / (keep-alive),
#    server pinned to SERVER_CPU, wrk to CLIENT_CPU (taskset); after a 2 s warm-up, RUNS runs;
#    prints the median (min, max) of requests/s and of the 99th-percentile latency.
# 2. Idle long polls: bench/longpoll_clients opens IDLE_N connections that each wait in
#    GET /poll, reads the server's RSS once all wait, then publishes one message and times how
#    long all IDLE_N answers take. Prints RSS per held connection (grove, then Go).
#
# Environment: RUNS=3 SECONDS_PER_RUN=10 CONNECTIONS=100 IDLE_N=10000 SERVER_CPU=0 CLIENT_CPU=1
#              PORT=18080 BUILD_DIR=build-bench
# Installs what it needs (Debian): wrk, golang-go.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-100}
IDLE_N=${IDLE_N:-10000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18080}
BUILD_DIR=${BUILD_DIR:-build-bench}
PEERS_BIN=$BUILD_DIR/peers
RAW_DIR=$BUILD_DIR/raw

source scripts/ensure_deps.sh
ensure_packages "${grove_base_packages[@]}" wrk golang-go

mkdir -p "$PEERS_BIN" "$RAW_DIR"
if [[ ! -e $PEERS_BIN/go_http || bench/peers/go_http/main.go -nt $PEERS_BIN/go_http ]]; then
  (cd bench/peers &&
    GOPATH="$ROOT/$BUILD_DIR/gopath" GOCACHE="$ROOT/$BUILD_DIR/go-cache" GOPROXY=off GOFLAGS='' \
      GO111MODULE=on go build -o "$ROOT/$PEERS_BIN/go_http" ./go_http)
fi
configure_build build-http-release --buildtype=release -Dtests=false -Dsamples=true -Dbenchmarks=true
ninja -C build-http-release samples/http_server bench/longpoll_clients >/dev/null
ulimit -n "$(ulimit -Hn)"

server_pid=
stop_server() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap stop_server EXIT

# start_server CMD...: runs CMD pinned to SERVER_CPU and waits until PORT accepts connections.
start_server() {
  taskset -c "$SERVER_CPU" "$@" >"$RAW_DIR/http_server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "server did not start: $*" >&2
  return 1
}

# wrk_run: one wrk run; prints "requests_per_s p99_ms".
wrk_run() {
  local out
  out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"$1"s --latency \
    "http://127.0.0.1:$PORT/")
  echo "$out" >>"$RAW_DIR/wrk.log"
  echo "$out" | awk '
    /Requests\/sec:/ { rps = $2 }
    $1 == "99%" {
      v = $2
      if (v ~ /us$/) { sub(/us$/, "", v); p99 = v / 1000 }
      else if (v ~ /ms$/) { sub(/ms$/, "", v); p99 = v }
      else if (v ~ /s$/) { sub(/s$/, "", v); p99 = v * 1000 }
    }
    END { printf "%s %.3f\n", rps, p99 }'
}

# median_of "a b c ...": median, min and max.
stats() {
  tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.2f (min %.2f, max %.2f)", m, v[1], v[NR] }'
}

throughput() {
  local name=$1
  shift
  start_server "$@"
  wrk_run 2 >/dev/null  # warm-up
  local rps=() p99=() r
  for ((r = 1; r <= RUNS; r++)); do
    read -r a b < <(wrk_run "$SECONDS_PER_RUN")
    rps+=("$a")
    p99+=("$b")
  done
  stop_server
  printf '%-22s requests/s %s   p99 ms %s\n' "$name" "$(echo "${rps[*]}" | stats)" \
    "$(echo "${p99[*]}" | stats)"
}

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -r)  $(nproc) cpus  RUNS=$RUNS" \
  "${SECONDS_PER_RUN}s x $CONNECTIONS connections, server on cpu $SERVER_CPU, wrk on cpu $CLIENT_CPU"
: >"$RAW_DIR/wrk.log"
throughput grove_http_server build-http-release/samples/http_server --port "$PORT"
throughput go_net_http "$PEERS_BIN/go_http" "$PORT"

idle() {
  local name=$1
  shift
  start_server "$@"
  printf '%-22s ' "$name"
  taskset -c "$CLIENT_CPU" build-http-release/bench/longpoll_clients "$PORT" "$server_pid" "$IDLE_N"
  stop_server
}
echo "idle long polls ($IDLE_N connections):"
idle grove_http_server build-http-release/samples/http_server --port "$PORT" \
  --max-connections $((IDLE_N + 100))
idle go_net_http "$PEERS_BIN/go_http" "$PORT"
