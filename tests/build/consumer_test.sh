#!/usr/bin/env bash
# Builds tests/build/consumer/main.cpp against grove (1) through the build tree's uninstalled
# pkg-config file and (2) as a meson subproject, and runs both programs.
set -euo pipefail
src=$1 build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

PKG_CONFIG_PATH="$build/meson-uninstalled" pkg-config --exists grove
# shellcheck disable=SC2046
g++ -std=c++20 "$src/tests/build/consumer/main.cpp" -o "$work/by_pkgconfig" \
  $(PKG_CONFIG_PATH="$build/meson-uninstalled" pkg-config --cflags --libs grove) \
  -Wl,-rpath,"$build/lib"
"$work/by_pkgconfig"
echo "pkg-config consumer: ok"

cp -r "$src/tests/build/consumer" "$work/sub"
mkdir -p "$work/sub/subprojects"
ln -s "$src" "$work/sub/subprojects/grove"
meson setup "$work/sub/build" "$work/sub" >/dev/null
ninja -C "$work/sub/build" >/dev/null
"$work/sub/build/consumer"
echo "subproject consumer: ok"
