# Sourced by test.sh, tour.sh and bench/run_bench.sh: installs the Debian 12 packages grove
# needs, only those missing, so every command is idempotent and fast on a warm machine.
# Never install the unversioned libboost-dev: it is Boost 1.74 and conflicts with 1.81.

grove_base_packages=(g++ cmake pkg-config meson ninja-build libboost1.81-dev
                     libboost-context1.81-dev doctest-dev libssl-dev openssl liburing-dev)
# The unmodified third-party clients the shims are proven with (tests/clients/), the real
# servers they talk to (scripts/test_services.sh starts throw-away ones), and libcurl for the
# blocking_libraries sample. postgresql brings initdb/pg_ctl in /usr/lib/postgresql/15/bin and
# the non-root `postgres` user the test cluster runs as.
grove_client_packages=(libcurl4-openssl-dev libhiredis-dev libpq-dev redis-server postgresql)

ensure_packages() {
  local missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  echo "grove: installing missing Debian packages: ${missing[*]}"
  local sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# configure_build DIR [meson options...]: sets DIR up once, reconfigures if options changed.
configure_build() {
  local dir=$1
  shift
  if [[ -f $dir/build.ninja ]]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}
