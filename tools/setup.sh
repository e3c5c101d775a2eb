#!/usr/bin/env bash
# Installs the Debian packages servesim builds with, where missing, and the npm packages of
# report.html (tools/report: the chart library and the browser test's driver, pinned by its
# package-lock.json). Idempotent: a machine that has them all is left alone (no apt-get or
# npm call at all).
set -euo pipefail
packages=(
  g++ cmake ninja-build
  libboost-program-options-dev libboost-graph-dev
  nlohmann-json3-dev libeigen3-dev libfmt-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev libabsl-dev
  clang libclang-rt-14-dev  # libFuzzer harnesses (tools/fuzz.sh)
  nodejs npm chromium       # report.html's chart library (npm) and its headless-browser test
  libsimdjson-dev           # parse_json_text's fast path (sim/core/json_file.cpp)
  libssl-dev                # SHA-256 by OpenSSL's libcrypto (sim/cost/sha256.cpp)
  libtbb-dev libopenmpi-dev openmpi-bin  # servesim sweep: points on oneTBB threads and MPI ranks
  libglpk-dev               # servesim plan mix: the Melange integer program (GLPK)
  python3-dev pybind11-dev python3-numpy python3-pytest  # the Python module (sim/python) and its tests
  python3-jsonschema        # timeline.json checked against the trace-event format's schema (tests/python)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere than Debian (e.g. NodeSource): present is enough.
keep=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 || keep+=("$p") ;;
    npm) command -v npm >/dev/null 2>&1 || keep+=("$p") ;;
    *) keep+=("$p") ;;
  esac
done
missing=("${keep[@]+"${keep[@]}"}")
if [ ${#missing[@]} -gt 0 ]; then
  echo "servesim setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages of tools/report, exactly as locked; skipped when node_modules already matches.
report_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/report"
if ! cmp -s "$report_dir/package-lock.json" "$report_dir/node_modules/.servesim-lock" 2>/dev/null; then
  echo "servesim setup: npm ci in tools/report"
  (cd "$report_dir" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$report_dir/package-lock.json" "$report_dir/node_modules/.servesim-lock"
fi
