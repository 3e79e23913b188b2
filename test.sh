#!/usr/bin/env bash
# Builds grove and runs the whole test suite twice: a normal build, then one with
# AddressSanitizer + UndefinedBehaviorSanitizer; then the tests where threads meet (meson suite
# `threads`) a third time under ThreadSanitizer. Installs missing Debian packages first.
# Usage: ./test.sh [meson test args...]   e.g. ./test.sh core_fiber
# Only the normal build compiles every sample (they must build; tour.sh runs them). The sanitizer
# builds compile only what their tests need (samples/meson.build: the samples tests run), at -O1 with line-table debug info (-g1: enough for
# sanitizer stack traces, a fraction of full -g's cost on the Beast/Asio templates): see
# "CI time" in bench/RESULTS.md.
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  echo "usage: ./test.sh [meson test args...]   builds grove and runs every test: a normal build,"
  echo "       then ASan + UBSan, then the suite 'threads' under TSan (e.g. ./test.sh core_fiber)"
  exit 0
fi
cd "$(dirname "$0")"
source scripts/ensure_deps.sh
ensure_packages "${grove_base_packages[@]}" "${grove_client_packages[@]}" python3-websockets
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # the 10k-connection tests need descriptors

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=0:strict_string_checks=1
# TSAN_OPTIONS: tests/meson.build sets them.

passed=0 failed=0
# run_suite DIR SUITE [meson options...]: SUITE is a meson test suite, or "" for every test.
run_suite() {
  local dir=$1 suite=$2
  shift 2
  configure_build "$dir" -Dbenchmarks=false "$@"
  local selection=("${test_args[@]}")
  [[ -n $suite ]] && selection+=(--suite "$suite")
  # A suite's run builds only its tests' targets: meson test builds what the selected tests need.
  if [[ -z $suite ]]; then
    ninja -C "$dir" >/dev/null || { ninja -C "$dir"; return 1; }
  else
    ninja -C "$dir" build.ninja >/dev/null  # regenerate quietly after configure_build
  fi
  echo "grove: tests in $dir${suite:+ (suite $suite)}"
  local log status=0
  log=$(meson test -C "$dir" --print-errorlogs --num-processes 2 "${selection[@]}" 2>&1) || status=$?
  echo "$log" | grep -vE '^(ninja|Ninja|\[|$)' | tail -n 40
  count() { echo "$log" | sed -n "s/^$1: *//p" | head -1 | grep . || echo 0; }
  passed=$((passed + $(count Ok)))
  failed=$((failed + $(count Fail) + $(count Timeout)))
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
run_suite build "" -Db_sanitize=none || status=1
sanitizer_build=(-Dsamples=true -Doptimization=1 -Db_lundef=false)  # samples: only those tested
run_suite build-asan "" -Db_sanitize=address,undefined "${sanitizer_build[@]}" -Dcpp_args=-g1 ||
  status=1
run_suite build-tsan threads -Db_sanitize=thread "${sanitizer_build[@]}" -Dcpp_args=-g1 || status=1
echo "grove: $passed passed, $failed failed"
exit $status
