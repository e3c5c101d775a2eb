#!/usr/bin/env bash
# README command 2 (and CI's): set up, build and run the whole test suite under the release
# preset, then again under the asan preset (AddressSanitizer + UndefinedBehaviorSanitizer,
# -O0) with warnings in servesim's own code as errors. SERVESIM_TEST_ASAN=0 skips the
# sanitizer pass (on an idle 2-core machine: 11 min release, 31 min asan, build and tests).
# SERVESIM_WERROR_RELEASE=1 also makes warnings errors in the -O3 release build.
# SERVESIM_FUZZ_SECONDS=N adds a fuzz smoke (N seconds per harness, needs clang).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
jobs="${SERVESIM_JOBS:-2}"
stamp() { date +%s; }
t0=$(stamp)
cmake --preset release -DSERVESIM_WERROR="${SERVESIM_WERROR_RELEASE:-0}" >/dev/null
cmake --build --preset release -j"$jobs"
ctest --preset release -j"$jobs"
t1=$(stamp)
echo "release build + tests: $((t1 - t0)) s"
if [ "${SERVESIM_TEST_ASAN:-1}" != 0 ]; then
  cmake --preset asan -DSERVESIM_WERROR=ON >/dev/null
  cmake --build --preset asan -j"$jobs"
  ctest --preset asan -j"$jobs"
  t2=$(stamp)
  echo "asan build + tests: $((t2 - t1)) s"
fi
if [ "${SERVESIM_FUZZ_SECONDS:-0}" != 0 ]; then
  tools/fuzz.sh "$SERVESIM_FUZZ_SECONDS"
fi
