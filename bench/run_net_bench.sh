#!/usr/bin/env bash
# Networking benchmark (issue 4): echo ping-pong on loopback. Every server is measured in the
# same run with the same load generator (bench/peers/echo_load.c): CONNECTIONS connections,
# SIZE-byte messages, each sent again as soon as its echo is back. The server is pinned to
# SERVER_CPU and the client to CLIENT_CPU (taskset).
#
#   bench/run_net_bench.sh [FILTER...]    only the servers whose name contains a FILTER
#
# For each server it prints the median over RUNS runs (after a 1 s warm-up) of
#   round_trips_per_s     what the client saw
#   server_cpu_us_per_rt  the server's utime+stime (/proc/<pid>/stat) over the run / round trips
#   cpu_vs_epoll          the median over runs of server_cpu_us_per_rt / the epoll server's in
#                         the same round (runs go round-robin over the servers)
#   server_user_us_per_rt the utime part alone (what the implementations add above the kernel;
#                         10 ms clock ticks: coarse, read it over several runs)
# and, from one more run under `strace -c -f -p <pid>`, syscalls per round trip (sys_total and
# the main calls). strace slows the server down, which changes how many connections each
# epoll_wait returns: read the epoll_wait share as an upper bound.
#
# Environment: RUNS=3 SECONDS_PER_RUN=5 CONNECTIONS=100 SIZE=64 STRACE_SECONDS=3
#              SERVER_CPU=0 CLIENT_CPU=1 BUILD_DIR=build-bench
# Installs what it needs (Debian): python3-gevent, golang-go, strace.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
CONNECTIONS=${CONNECTIONS:-100}
SIZE=${SIZE:-64}
STRACE_SECONDS=${STRACE_SECONDS:-3}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BUILD_DIR=${BUILD_DIR:-build-bench}
PEERS_SRC=bench/peers
PEERS_BIN=$BUILD_DIR/peers
RAW_DIR=$BUILD_DIR/raw
FILTERS=("$@")
PORT=${PORT:-17007}

source scripts/ensure_deps.sh
ensure_packages "${grove_base_packages[@]}" python3-gevent golang-go strace
source bench/echo_servers.sh

# --- build ----------------------------------------------------------------------------------

mkdir -p "$PEERS_BIN" "$RAW_DIR"
build_c_peer echo_load
build_c_peer epoll_echo
if newer "$PEERS_BIN/asio_echo" "$PEERS_SRC/asio_echo.cpp"; then
  g++ -O2 -std=c++20 -DNDEBUG -o "$PEERS_BIN/asio_echo" "$PEERS_SRC/asio_echo.cpp" -pthread
fi
build_go_peer go_echo
configure_build build-net-release --buildtype=release -Dtests=false -Dsamples=true -Dbenchmarks=true
ninja -C build-net-release samples/echo_server bench/net_wait_strategies bench/shims_echo >/dev/null

# name and command line (PORT is replaced) of each server, the ceiling first
servers=(
  "epoll|$PEERS_BIN/epoll_echo PORT"
  "grove|build-net-release/samples/echo_server --port PORT"
  "asio|$PEERS_BIN/asio_echo PORT"
  "go|env GOMAXPROCS=1 $PEERS_BIN/go_echo PORT"
  "gevent|/usr/bin/python3 $PEERS_SRC/gevent_echo.py PORT"
  # How fibers wait on sockets, the same fiber-per-connection server three ways:
  "wait:asio_wait|build-net-release/bench/net_wait_strategies asio_wait PORT"
  "wait:asio_read_some|build-net-release/bench/net_wait_strategies asio_read_some PORT"
  "wait:use_fiber|build-net-release/bench/net_wait_strategies use_fiber PORT"
  "wait:grove|build-net-release/bench/net_wait_strategies grove PORT"
  # The shims (issue 7): one fiber-per-connection server, grove's sockets vs plain blocking
  # recv/send made cooperative by libgrove_shims (compare their cpu_vs_epoll).
  "shims:native|build-net-release/bench/shims_echo native PORT"
  "shims:plain|build-net-release/bench/shims_echo plain PORT"
)

# --- measuring --------------------------------------------------------------------------------

cpu_ticks() { awk '{ print $14 + $15, $14 }' "/proc/$1/stat"; }  # utime+stime, utime

# load PORT SECONDS: runs the client once; prints its key=value line.
load() { taskset -c "$CLIENT_CPU" "$PEERS_BIN/echo_load" "$1" "$CONNECTIONS" "$2" "$SIZE"; }

# medians: reads key=value lines, prints "key=median" for each key in first-seen order.
medians() {
  awk '{ for (i = 1; i <= NF; i++) { eq = index($i, "="); if (eq < 2) continue
           k = substr($i, 1, eq - 1); if (!(k in n)) order[++keys] = k; v[k, ++n[k]] = substr($i, eq + 1) + 0 } }
       END { for (j = 1; j <= keys; j++) { k = order[j]; c = n[k]
               for (i = 1; i <= c; i++) s[i] = v[k, i]
               for (i = 2; i <= c; i++) { x = s[i]; for (m = i - 1; m >= 1 && s[m] > x; m--) s[m + 1] = s[m]; s[m + 1] = x }
               printf "%s=%s ", k, (c % 2) ? s[(c + 1) / 2] : (s[c / 2] + s[c / 2 + 1]) / 2 }
             print "" }'
}

# All servers run at once (idle ones cost nothing), each on its own port, and the runs go
# round-robin over them, so that drift on a shared machine touches every server alike. One that
# does not start is left out.
start_servers net "$PORT" taskset -c "$SERVER_CPU" || true

hz=$(getconf CLK_TCK)
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -r)  $(nproc) cpus  RUNS=$RUNS" \
  "connections=$CONNECTIONS size=$SIZE seconds=$SECONDS_PER_RUN server_cpu=$SERVER_CPU" \
  "client_cpu=$CLIENT_CPU  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A runs
for ((run = 1; run <= RUNS; run++)); do
  for i in "${!names[@]}"; do
    read -r before before_user < <(cpu_ticks "${pids[i]}")
    out=$(load "${ports[i]}" "$SECONDS_PER_RUN")
    read -r after after_user < <(cpu_ticks "${pids[i]}")
    line=$(awk -v t=$((after - before)) -v u=$((after_user - before_user)) -v hz="$hz" \
      -v n="$(field round_trips "$out")" -v r="$(field round_trips_per_s "$out")" \
      -v s="$(field seconds "$out")" 'BEGIN {
        printf "round_trips_per_s=%s server_cpu_us_per_rt=%.3f server_user_us_per_rt=%.3f",
          r, t / hz * 1e6 / n, u / hz * 1e6 / n
        printf " server_cpu_share=%.2f", t / hz / s }')
    echo "run $run: $out $line load=$(cut -d' ' -f1 /proc/loadavg)" >>"$RAW_DIR/net_${names[i]//:/_}.log"
    runs[$i]+=$line$'\n'
  done
done

for i in "${!names[@]}"; do
  # Syscalls per round trip: one more run with strace attached to every thread of the server.
  trace=$RAW_DIR/net_${names[i]//:/_}_strace.txt
  strace -c -f -p "${pids[i]}" -o "$trace" 2>/dev/null &
  strace_pid=$!
  sleep 0.5
  out=$(load "${ports[i]}" "$STRACE_SECONDS")
  kill -INT "$strace_pid"
  wait "$strace_pid" 2>/dev/null || true
  syscalls=$(awk -v n="$(field round_trips "$out")" '
    $NF == "total" { total = $4 }
    $1 ~ /^[0-9.]+$/ && $NF != "total" && ($NF ~ /^(read|recvfrom|recvmsg|readv|write|sendto|sendmsg|writev|epoll_wait|epoll_pwait|epoll_ctl|futex|nanosleep|timerfd_settime|sched_yield)$/) {
      name = $NF; sub(/^epoll_pwait$/, "epoll_wait", name); calls[name] += $4 }
    END { printf "sys_total=%.2f", total / n
          for (k in calls) printf " sys_%s=%.3f", k, calls[k] / n }' "$trace")
  # The runs are paired (round-robin), so the median of per-round ratios to the first server
  # (the epoll ceiling) is steadier than the ratio of medians on a drifting machine.
  ratio=$(paste <(field server_cpu_us_per_rt "${runs[$i]}") <(field server_cpu_us_per_rt "${runs[0]}") |
    awk '{ printf "%.6f\n", $1 / $2 }' | median)
  printf '%-20s %s cpu_vs_%s=%s %s\n' "${names[i]}" "$(medians <<<"${runs[$i]}")" "${names[0]}" \
    "$ratio" "$syscalls"
done
