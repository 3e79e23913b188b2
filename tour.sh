#!/usr/bin/env bash
# Builds grove and runs the samples tour: the talk's story, one program at a time, each printing
# what it demonstrates. Installs missing Debian packages first; idempotent.
set -euo pipefail
case ${1:-} in
  "") ;;
  -h | --help)
    echo "usage: ./tour.sh   builds grove (release) and runs the samples tour; no arguments"
    exit 0
    ;;
  *)
    echo "tour.sh: unknown argument '$1' (it takes none; try --help)" >&2
    exit 2
    ;;
esac
cd "$(dirname "$0")"
source scripts/ensure_deps.sh
ensure_packages "${grove_base_packages[@]}" libcurl4-openssl-dev
configure_build build-tour --buildtype=release -Dtests=false -Dbenchmarks=false
ninja -C build-tour >/dev/null || ninja -C build-tour
bin=build-tour/samples

step() {
  printf '\n=== %s\n' "$1"
  shift
  "$@"
}

step "1. Synchronous hello: two waits, one after the other" $bin/hello_sync --scale 0.3
step "2. Callback hello: the hub calls 'World!' back" $bin/hello_callbacks --scale 0.3
step "3. Fiber hello: sequential-looking code, concurrent waits" $bin/hello_fibers --scale 0.3
step "3b. Shims hello: the synchronous sleep(3) code, unmodified, concurrent by linking the shims" \
  $bin/hello_shims --tour
if [[ -x $bin/blocking_libraries ]]; then  # built where libcurl is installed
  step "3c. Pitfall #2: blocking libraries (libcurl, ::sleep, ::recv) without and with the shims" \
    $bin/blocking_libraries --tour
fi
step "3d. Coroutine hello: C++20 co_await on the same hub" $bin/hello_coroutines --scale 0.3
step "4. The simultaneous chess exhibition (1 s = 1 ms)" $bin/chess_exhibition --ms-per-s 1
# Later chapters add themselves here when their samples exist.
for extra in mixed_styles pipeline echo_server echo_client http_server chat_server websocket_chat crawler \
    parallel_commands cpu_pitfall multicore_pipeline; do
  [[ -x $bin/$extra ]] && step "$extra" $bin/$extra --tour
done
step "The blocking monitor names the fiber that holds the hub (GROVE_MONITOR_MS=50 cpu_pitfall)" \
  env GROVE_MONITOR_MS=50 $bin/cpu_pitfall --work-ms 200
step "dump: a server prints every fiber on SIGUSR1 (it signals itself)" $bin/dump --self-test
echo
echo "tour: done"
