#!/usr/bin/env bash
# Holds every program given to the brief's rule on arguments: `--help` (and `-h`) prints the
# usage on stdout and exits 0; an unknown argument is exactly one line on stderr and a non-zero
# exit, never `terminate called` and never a run (a server that ignored it would be killed by the
# timeout, which fails the check). Each run is bounded by `timeout`.
# Usage: check_arguments.sh <program>...
set -uo pipefail
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
limit=${CHECK_ARGUMENTS_TIMEOUT:-30}  # seconds a run; a sanitizer build starts slowly
failures=0

fail() {
  echo "FAIL: $*"
  sed 's/^/  stdout: /' "$out" | head -5
  sed 's/^/  stderr: /' "$err" | head -5
  failures=$((failures + 1))
}

# run PROGRAM ARG: runs it with stdin closed; sets status.
run() {
  status=0
  timeout -k 5 "$limit" "$1" "$2" </dev/null >"$out" 2>"$err" || status=$?
}

(($# > 0)) || { echo "usage: check_arguments.sh <program>..."; exit 2; }
for program in "$@"; do
  name=$(basename "$program")
  before=$failures
  for help in --help -h; do
    run "$program" "$help"
    if ((status != 0)); then
      fail "$name $help: exit status $status, want 0"
    elif [[ ! -s $out ]]; then
      fail "$name $help: no usage on stdout"
    elif grep -q "terminate called" "$err"; then
      fail "$name $help: terminate called"
    fi
  done
  run "$program" --no-such-option
  lines=$(wc -l <"$err")
  if ((status == 0)); then
    fail "$name --no-such-option: exit status 0, want an error"
  elif ((status == 124 || status >= 128)); then
    fail "$name --no-such-option: exit status $status (timed out or killed by a signal)"
  elif grep -q "terminate called" "$err"; then
    fail "$name --no-such-option: terminate called"
  elif ((lines != 1)) || [[ $(head -c 1 "$err") == "" ]]; then
    fail "$name --no-such-option: $lines lines on stderr, want exactly one"
  elif ((failures == before)); then
    echo "ok: $name (--help, -h; --no-such-option: exit $status, '$(cat "$err")')"
  fi
done
echo "$# programs checked, $failures failures"
((failures == 0))
