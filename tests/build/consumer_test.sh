#!/usr/bin/env bash
# Builds tests/build/consumer/main.cpp against grove (1) through the build tree's uninstalled
# pkg-config file, (2) as a meson subproject and (3) with CMake's find_package(grove) from an
# installed tree; and tests/build/consumer/shims_main.cpp, a program naming no shim symbol,
# linked with the shims by pkg-config and by CMake under -Wl,--as-needed, and LD_PRELOADed.
set -euo pipefail
src=$1 build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PKG_CONFIG_PATH="$build/meson-uninstalled"

pkg-config --exists grove grove-shims
# shellcheck disable=SC2046
g++ -std=c++20 "$src/tests/build/consumer/main.cpp" -o "$work/by_pkgconfig" \
  $(pkg-config --cflags --libs grove) -Wl,-rpath,"$build/lib"
"$work/by_pkgconfig"
echo "pkg-config consumer: ok"

# shellcheck disable=SC2046
g++ -std=c++20 "$src/tests/build/consumer/shims_main.cpp" -o "$work/shims_by_pkgconfig" \
  -Wl,--as-needed $(pkg-config --cflags --libs grove-shims) -ldl \
  -Wl,-rpath,"$build/lib:$build/shims"
"$work/shims_by_pkgconfig"
echo "pkg-config grove-shims consumer (--as-needed): ok"

# shellcheck disable=SC2046
g++ -std=c++20 "$src/tests/build/consumer/shims_main.cpp" -o "$work/no_shims" \
  $(pkg-config --cflags --libs grove) -ldl -Wl,-rpath,"$build/lib"
status=0
"$work/no_shims" || status=$?
[[ $status -eq 2 ]] || { echo "without the shims: expected exit 2, got $status"; exit 1; }
LD_PRELOAD="$build/shims/libgrove_shims.so" "$work/no_shims"
echo "LD_PRELOAD consumer: ok"

cp -r "$src/tests/build/consumer" "$work/sub"
mkdir -p "$work/sub/subprojects"
ln -s "$src" "$work/sub/subprojects/grove"
meson setup "$work/sub/build" "$work/sub" >/dev/null
ninja -C "$work/sub/build" >/dev/null
"$work/sub/build/consumer"
"$work/sub/build/shims_consumer"
echo "subproject consumers (grove, grove-shims): ok"

meson install -C "$build" --no-rebuild --destdir "$work/root" >/dev/null
config_dir=$(find "$work/root" -name groveConfig.cmake -printf '%h\n')
cmake -S "$src/tests/build/cmake_consumer" -B "$work/cmake" -Dgrove_DIR="$config_dir" \
  -DCMAKE_EXE_LINKER_FLAGS=-Wl,--as-needed >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer"
"$work/cmake/shims_consumer"
echo "CMake find_package(grove) consumers (grove::grove, grove::shims, --as-needed): ok"
