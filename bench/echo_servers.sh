# shellcheck shell=bash
# Shared by the benchmarks that load echo servers with bench/peers/echo_load.c
# (run_net_bench.sh, run_cores_bench.sh): building the peers, starting the servers, reading the
# load generator's key=value lines. Source it from the repository's root after setting
# BUILD_DIR, PEERS_SRC, PEERS_BIN and RAW_DIR (and FILTERS, an array, to run only some servers).

# newer OUTPUT INPUT: true when OUTPUT is missing or older than INPUT.
newer() { [[ ! -e $1 || $2 -nt $1 ]]; }

# build_c_peer NAME: $PEERS_BIN/NAME from $PEERS_SRC/NAME.c.
build_c_peer() {
  if newer "$PEERS_BIN/$1" "$PEERS_SRC/$1.c"; then
    gcc -O2 -Wall -o "$PEERS_BIN/$1" "$PEERS_SRC/$1.c"
  fi
}

# build_go_peer NAME: $PEERS_BIN/NAME from $PEERS_SRC/NAME/main.go (offline: standard library
# only, caches inside the build dir).
build_go_peer() {
  if newer "$PEERS_BIN/$1" "$PEERS_SRC/$1/main.go"; then
    (cd "$PEERS_SRC" &&
      GOPATH="$ROOT/$BUILD_DIR/gopath" GOCACHE="$ROOT/$BUILD_DIR/go-cache" GOPROXY=off GOFLAGS='' \
        GO111MODULE=on go build -o "$ROOT/$PEERS_BIN/$1" "./$1")
  fi
}

# selected NAME: true when FILTERS is empty or NAME contains one of them.
selected() {
  local filter
  ((${#FILTERS[@]} == 0)) && return 0
  for filter in "${FILTERS[@]}"; do [[ $1 == *"$filter"* ]] && return 0; done
  return 1
}

wait_for_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# field KEY TEXT: the numeric value of KEY=... in TEXT (one a line).
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

# median: the median of the numbers on stdin, one a line.
median() {
  sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# start_servers PREFIX PORT [WRAPPER...]: starts each selected "name|command" of the array
# `servers` (PORT in the command is replaced by a port of its own, from PORT up), under WRAPPER
# (e.g. taskset -c 0), logging to $RAW_DIR/PREFIX_<name>.server.log, and warms each up with
# `load PORT 1` (the caller's function). Fills the arrays names, pids, ports with those that
# started, and kills them on exit. Returns non-zero if one did not start.
names=() pids=() ports=()
start_servers() {
  local prefix=$1 port=$2 entry name command file pid status=0
  shift 2
  trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done' EXIT
  # shellcheck disable=SC2154  # servers: the caller's
  for entry in "${servers[@]}"; do
    name=${entry%%|*}
    selected "$name" || continue
    command=${entry#*|}
    file=${name//:/_}
    # shellcheck disable=SC2086  # the command line is meant to be split
    "$@" ${command//PORT/$port} >"$RAW_DIR/${prefix}_$file.server.log" 2>&1 &
    pid=$!
    : >"$RAW_DIR/${prefix}_$file.log"
    if ! wait_for_port "$port"; then
      echo "$name: the server did not start (see $RAW_DIR/${prefix}_$file.server.log)"
      kill "$pid" 2>/dev/null || true
      status=1
    else
      names+=("$name") pids+=("$pid") ports+=("$port")
      load "$port" 1 >/dev/null  # warm-up
    fi
    port=$((port + 1))
  done
  return $status
}
