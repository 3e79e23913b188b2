#!/usr/bin/env bash
# All-cores benchmark (issue 11): does a server-bound load scale from one hub to two as Go's
# does from GOMAXPROCS=1 to 2? A plain echo on this 2-core machine is bound by the load
# generator and the kernel's loopback work, so the handler spends a fixed amount of CPU per
# request: it hashes the SIZE-byte request ROUNDS times over (FNV-1a, the same loop in
# bench/cores_echo.cpp and bench/peers/go_hash_echo), ROUNDS calibrated to about WORK_US of CPU
# with the C++ loop. The load generator is bench/peers/echo_load.c (one thread, epoll,
# CONNECTIONS ping-pong connections). Nothing is pinned: the servers need every core.
#
#   bench/run_cores_bench.sh
#
# Servers, all started at once (an idle one costs nothing) and measured round-robin RUNS times:
#   grove1 / grove2   cores_echo with 1 / 2 hubs (grove::run_on_cores + net::sharded_server)
#   go1 / go2         go_hash_echo with GOMAXPROCS=1 / 2
# Prints the handler's CPU cost in both languages, each server's median requests/s and CPU
# share (cores busy) beside the load generator's own (on 2 cores they compete), and the medians
# of the per-round ratios grove2/grove1, go2/go1, grove2/go2, grove1/go1.
#
# Environment: RUNS=5 SECONDS_PER_RUN=5 CONNECTIONS=100 SIZE=64 WORK_US=50 ROUNDS=(calibrated)
#              BUILD_DIR=build-bench PORT=17107
# Installs what it needs (Debian): golang-go.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RUNS=${RUNS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
CONNECTIONS=${CONNECTIONS:-100}
SIZE=${SIZE:-64}
WORK_US=${WORK_US:-50}
BUILD_DIR=${BUILD_DIR:-build-bench}
PEERS_SRC=bench/peers
PEERS_BIN=$BUILD_DIR/peers
RAW_DIR=$BUILD_DIR/raw
PORT=${PORT:-17107}
FILTERS=()

source scripts/ensure_deps.sh
ensure_packages "${grove_base_packages[@]}" golang-go
source bench/echo_servers.sh

# --- build ----------------------------------------------------------------------------------

mkdir -p "$PEERS_BIN" "$RAW_DIR"
build_c_peer echo_load
build_go_peer go_hash_echo
configure_build build-net-release --buildtype=release -Dtests=false -Dsamples=true -Dbenchmarks=true
ninja -C build-net-release bench/cores_echo >/dev/null
grove_server=build-net-release/bench/cores_echo
go_server=$PEERS_BIN/go_hash_echo

# --- the handler's cost -----------------------------------------------------------------------

if [[ -z ${ROUNDS:-} ]]; then
  # The least of three timings of 500 rounds (the machine is shared: the least is the least
  # disturbed), scaled to WORK_US.
  best=$(for _ in 1 2 3; do field us_per_request "$($grove_server --time 500 "$SIZE")"; done | sort -g | head -1)
  ROUNDS=$(awk -v b="$best" -v w="$WORK_US" 'BEGIN { printf "%d", 500 * w / b + 0.5 }')
fi
grove_cost=$(field us_per_request "$($grove_server --time "$ROUNDS" "$SIZE")")
go_cost=$(field us_per_request "$(GOMAXPROCS=1 $go_server --time "$ROUNDS" "$SIZE")")

# --- measuring --------------------------------------------------------------------------------

servers=(
  "grove1|$grove_server 1 $ROUNDS $SIZE PORT"
  "grove2|$grove_server 2 $ROUNDS $SIZE PORT"
  "go1|env GOMAXPROCS=1 $go_server $ROUNDS $SIZE PORT"
  "go2|env GOMAXPROCS=2 $go_server $ROUNDS $SIZE PORT"
)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # utime+stime of every thread

load() { "$PEERS_BIN/echo_load" "$1" "$CONNECTIONS" "$2" "$SIZE"; }

start_servers cores "$PORT" || exit 1  # the ratios below need all four

hz=$(getconf CLK_TCK)
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -r)  $(nproc) cpus  RUNS=$RUNS" \
  "connections=$CONNECTIONS size=$SIZE seconds=$SECONDS_PER_RUN rounds=$ROUNDS" \
  "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "handler CPU per request: grove (C++) ${grove_cost} us, go ${go_cost} us"
declare -A rps cpu gen
for ((run = 1; run <= RUNS; run++)); do
  for i in "${!names[@]}"; do
    before=$(cpu_ticks "${pids[i]}")
    out=$(load "${ports[i]}" "$SECONDS_PER_RUN")
    after=$(cpu_ticks "${pids[i]}")
    r=$(field round_trips_per_s "$out")
    share=$(awk -v t=$((after - before)) -v hz="$hz" -v s="$(field seconds "$out")" 'BEGIN { printf "%.2f", t / hz / s }')
    echo "run $run: $out server_cpu_share=$share load=$(cut -d' ' -f1 /proc/loadavg)" >>"$RAW_DIR/cores_${names[i]}.log"
    rps[$i]+="$r "
    cpu[$i]+="$share "
    gen[$i]+="$(field cpu_share "$out") "
  done
done

for i in "${!names[@]}"; do
  printf '%-8s requests_per_s=%s cpu_share=%s load_generator_cpu_share=%s\n' "${names[i]}" \
    "$(tr ' ' '\n' <<<"${rps[$i]}" | grep . | median)" "$(tr ' ' '\n' <<<"${cpu[$i]}" | grep . | median)" \
    "$(tr ' ' '\n' <<<"${gen[$i]}" | grep . | median)"
done
# Per-round ratios (the rounds are paired in time), then their median.
ratio() {
  paste <(tr ' ' '\n' <<<"${rps[$1]}" | grep .) <(tr ' ' '\n' <<<"${rps[$2]}" | grep .) |
    awk '{ printf "%.6f\n", $1 / $2 }' | median
}
echo "grove2/grove1=$(ratio 1 0) go2/go1=$(ratio 3 2) grove2/go2=$(ratio 1 3) grove1/go1=$(ratio 0 2)" \
  "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
