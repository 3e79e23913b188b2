#!/usr/bin/env bash
# Proves a sample server stops gracefully on a signal: started on a free port, given a client
# connection, sent SIGTERM (or the signal named by $2), it must exit 0 within 10 s and say so in
# one line. Usage: check_graceful_stop.sh <server binary> [TERM|INT]
set -euo pipefail
server=$1
signal=${2:-TERM}
out=$(mktemp)
trap 'rm -f "$out"; [[ -n ${pid:-} ]] && kill -KILL "$pid" 2>/dev/null || true' EXIT

"$server" --port 0 >"$out" 2>&1 &
pid=$!
port=
for _ in $(seq 100); do  # at most 10 s for the "listening on" line
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out" | head -1)
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || { echo "no 'listening on' line from $server:"; cat "$out"; exit 1; }

exec 3<>"/dev/tcp/127.0.0.1/$port"  # an open connection the stop must deal with
kill -"$signal" "$pid"
status=0
for _ in $(seq 100); do  # at most 10 s to exit
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  echo "$server still running 10 s after SIG$signal"
  exit 1
fi
wait "$pid" || status=$?
pid=
exec 3>&-
cat "$out"
[[ $status == 0 ]] || { echo "exit status $status after SIG$signal, want 0"; exit 1; }
grep -q "stopped on SIG$signal" "$out" || { echo "no 'stopped on SIG$signal' line"; exit 1; }
