#!/usr/bin/env bash
# Builds grove and runs the whole test suite twice: a normal build, then one with
# AddressSanitizer + UndefinedBehaviorSanitizer. Installs missing Debian packages first.
# Usage: ./test.sh [meson test args...]   e.g. ./test.sh core_fiber
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_deps.sh
ensure_packages "${grove_base_packages[@]}" "${grove_client_packages[@]}" python3-websockets
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # the 10k-connection tests need descriptors

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=0:strict_string_checks=1

passed=0 failed=0
run_suite() {
  local dir=$1
  shift
  configure_build "$dir" -Dbenchmarks=false "$@"
  ninja -C "$dir" >/dev/null || { ninja -C "$dir"; return 1; }
  echo "grove: tests in $dir"
  local log status=0
  log=$(meson test -C "$dir" --print-errorlogs --num-processes 2 "${test_args[@]}" 2>&1) || status=$?
  echo "$log" | grep -vE '^(ninja|Ninja|\[|$)' | tail -n 40
  passed=$((passed + $(echo "$log" | sed -n 's/^Ok: *//p' | head -1)))
  failed=$((failed + $(echo "$log" | sed -n 's/^Fail: *//p' | head -1) + \
    $(echo "$log" | sed -n 's/^Timeout: *//p' | head -1)))
  return $status
}

test_args=("$@")
# A throw-away redis-server and PostgreSQL cluster for the client tests, shared by both suites
# and stopped on exit. Started only when those tests may run; a client test run alone through
# `meson test` starts its own (see scripts/test_services.sh).
if ((${#test_args[@]} == 0)) || [[ " ${test_args[*]}" == *clients* ]]; then
  source scripts/test_services.sh
  start_test_services redis postgres
fi
status=0
run_suite build -Db_sanitize=none || status=1
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false || status=1
echo "grove: $passed passed, $failed failed"
exit $status
