#!/usr/bin/env bash
# Throw-away servers for the tests that drive real third-party clients (tests/clients/): a
# redis-server and a PostgreSQL cluster, both on 127.0.0.1 only, in a temporary directory,
# nothing persisted, stopped and removed when the shell that started them exits.
#
# Two ways to use it:
#   source scripts/test_services.sh; start_test_services [redis] [postgres]
#       (test.sh) starts them once for every suite; a trap on EXIT stops them.
#   scripts/test_services.sh redis postgres -- CMD ARGS...
#       (meson registers the client tests this way) runs CMD with the services it names, starting
#       only those whose variables are not set already, so CMD works alone (`meson test
#       clients_redis`) and inside test.sh (which has started them) alike.
#
# What the tests read:
#   GROVE_TEST_REDIS_PORT   redis-server on 127.0.0.1:$GROVE_TEST_REDIS_PORT
#   GROVE_TEST_PG           a libpq conninfo: "host=127.0.0.1 port=N user=grove dbname=postgres"
#
# PostgreSQL refuses to run as root: as root, the cluster is initialised and run as the
# `postgres` user (the Debian package creates it), or `nobody` if there is none, through
# runuser; its directory is the only thing that user owns. Ports: a random free one, retried if
# another process takes it first.

test_services_dir=
test_services_redis_pid=
test_services_pg_user=
test_services_pg_bin=

# The directory (created on first use) holding every service's files.
test_services_tmp() {
  if [[ -z $test_services_dir ]]; then
    # /tmp, not $TMPDIR: the postgres user must reach it, and a Unix socket path is short.
    test_services_dir=$(mktemp -d /tmp/grove-services.XXXXXX)
    chmod 711 "$test_services_dir"  # the postgres user must reach its own subdirectory
  fi
}

# A TCP port nobody listens on now (random in 20000-59999; the caller retries on a race).
test_services_pick_port() {
  local port hex
  while :; do
    port=$((20000 + RANDOM % 40000))
    printf -v hex '%04X' "$port"
    grep -q ":$hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null || break
  done
  echo "$port"
}

start_test_redis() {
  [[ -n ${GROVE_TEST_REDIS_PORT:-} ]] && return 0
  command -v redis-server >/dev/null || { echo "test_services: redis-server is not installed" >&2; return 1; }
  test_services_tmp
  local dir=$test_services_dir/redis attempt port i
  mkdir -p "$dir"
  for attempt in 1 2 3 4 5; do
    port=$(test_services_pick_port)
    # No persistence, loopback only; not daemonized so that its pid is ours to stop.
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
      --daemonize no --logfile "$dir/redis.log" --maxclients 1000 &
    test_services_redis_pid=$!
    for ((i = 0; i < 100; i++)); do  # up to 10 s on a loaded machine
      if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
        export GROVE_TEST_REDIS_PORT=$port
        return 0
      fi
      kill -0 "$test_services_redis_pid" 2>/dev/null || break  # port taken: it exited
      sleep 0.1
    done
    kill "$test_services_redis_pid" 2>/dev/null || true
    wait "$test_services_redis_pid" 2>/dev/null || true
    test_services_redis_pid=
  done
  echo "test_services: redis-server did not start; its log:" >&2
  tail -n 20 "$dir/redis.log" >&2
  return 1
}

# Runs a PostgreSQL program as the cluster's owner (a non-root user when we are root).
test_services_as_pg_user() {
  if [[ -n $test_services_pg_user ]]; then
    (cd "$test_services_dir" && runuser -u "$test_services_pg_user" -- "$@")
  else
    "$@"
  fi
}

start_test_postgres() {
  [[ -n ${GROVE_TEST_PG:-} ]] && return 0
  test_services_pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -x $test_services_pg_bin/initdb ]] || { echo "test_services: PostgreSQL (initdb) is not installed" >&2; return 1; }
  test_services_tmp
  if [[ $(id -u) -eq 0 ]]; then
    test_services_pg_user=postgres
    id postgres >/dev/null 2>&1 || test_services_pg_user=nobody
  fi
  local dir=$test_services_dir/pg attempt port
  mkdir -p "$dir"
  [[ -n $test_services_pg_user ]] && chown "$test_services_pg_user" "$dir"
  test_services_as_pg_user "$test_services_pg_bin/initdb" -D "$dir/data" -U grove --auth=trust \
    --no-sync --no-instructions -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
    echo "test_services: initdb failed; its log:" >&2
    tail -n 20 "$dir/initdb.log" >&2
    return 1
  }
  for attempt in 1 2 3 4 5; do
    port=$(test_services_pick_port)
    # Loopback only, its socket in its own directory; durability off (a throw-away cluster);
    # room for the tests' 50 connections at a time; a backend whose client went away (a killed
    # query) ends within 100 ms instead of finishing its pg_sleep.
    if test_services_as_pg_user "$test_services_pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
      -w -t 60 -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 \
      -c shared_buffers=16MB -c client_connection_check_interval=100ms -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null; then
      export GROVE_TEST_PG="host=127.0.0.1 port=$port user=grove dbname=postgres"
      return 0
    fi
    grep -q 'in use' "$dir/server.log" 2>/dev/null || break  # retry only a taken port
  done
  echo "test_services: PostgreSQL did not start; its log:" >&2
  tail -n 20 "$dir/server.log" >&2
  return 1
}

stop_test_services() {
  if [[ -n $test_services_redis_pid ]]; then
    kill "$test_services_redis_pid" 2>/dev/null || true
    wait "$test_services_redis_pid" 2>/dev/null || true
    test_services_redis_pid=
  fi
  if [[ -n $test_services_dir && -f $test_services_dir/pg/data/postmaster.pid ]]; then
    test_services_as_pg_user "$test_services_pg_bin/pg_ctl" -D "$test_services_dir/pg/data" \
      -m immediate -w stop >/dev/null 2>&1 || true
  fi
  [[ -n $test_services_dir ]] && rm -rf "$test_services_dir"
  test_services_dir=
  return 0
}

# start_test_services [redis] [postgres]: both when none is named.
start_test_services() {
  trap stop_test_services EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  (($# == 0)) && set -- redis postgres
  local service
  for service in "$@"; do
    case $service in
      redis) start_test_redis || return 1 ;;
      postgres) start_test_postgres || return 1 ;;
      *) echo "test_services: unknown service '$service' (redis, postgres)" >&2; return 1 ;;
    esac
  done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -uo pipefail
  services=()
  while (($# > 0)) && [[ $1 != -- ]]; do
    services+=("$1")
    shift
  done
  if (($# < 2)); then
    echo "usage: $0 [redis] [postgres] -- COMMAND [ARGS...]" >&2
    exit 2
  fi
  shift
  start_test_services "${services[@]}" || exit 1
  "$@"
  exit $?
fi
