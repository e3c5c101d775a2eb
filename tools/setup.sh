#!/usr/bin/env bash
# Installs the Debian packages servesim builds with, where missing. Idempotent: a machine
# that has them all is left alone (no apt-get call at all).
set -euo pipefail
packages=(
  g++ cmake ninja-build
  libboost-program-options-dev libboost-graph-dev
  nlohmann-json3-dev libeigen3-dev libfmt-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev libabsl-dev
  libtbb-dev  # oneTBB: plan search runs candidates on all cores
  clang libclang-rt-14-dev  # libFuzzer harnesses (tools/fuzz.sh)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "servesim setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
