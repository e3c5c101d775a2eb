#!/usr/bin/env bash
# Builds the libFuzzer harnesses (preset `fuzz`: clang, ASan + UBSan) and runs each for a
# given time on its seed corpus (tests/fuzz/corpus/<target>, read-only; new inputs go to
# build/fuzz/corpus/<target>). Prints the executions each reached; exits non-zero on the
# first crash, leak, timeout or sanitizer report (the reproducer is in build/fuzz/crashes/).
#   tools/fuzz.sh [SECONDS_PER_TARGET=60] [TARGET...]
# SERVESIM_FUZZ_RUNS=N stops each target after N executions instead (the time then only caps it).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
all=(scenario hf_config device topology fitted_profile azure_csv mooncake_jsonl measurements_csv shapes_csv sweep plan groundtruth sharegpt_csv vidur_csv agent_jsonl)
targets=("${@:-${all[@]}}")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"${SERVESIM_JOBS:-2}" --target $(printf 'fuzz_%s ' "${targets[@]}")
mkdir -p build/fuzz/crashes
# The file-reader bodies write each input to a file under TMPDIR: a RAM folder makes them
# several times faster (groundtruth: 54 -> 320 executions a second under load).
if [ -z "${TMPDIR:-}" ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
status=0
for t in "${targets[@]}"; do
  work="build/fuzz/corpus/$t"
  mkdir -p "$work"
  log="build/fuzz/$t.log"
  # -timeout: one input taking > 10 s is a hang; -rss_limit_mb: > 2 GB is unbounded allocation.
  if ! ASAN_OPTIONS=detect_leaks=1 build/fuzz/tests/fuzz/fuzz_$t "$work" "tests/fuzz/corpus/$t" \
      -max_total_time="$seconds" ${SERVESIM_FUZZ_RUNS:+-runs=$SERVESIM_FUZZ_RUNS} -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="build/fuzz/crashes/$t-" -print_final_stats=1 >"$log" 2>&1; then
    echo "fuzz_$t: FAILED (see $log and build/fuzz/crashes/)"
    tail -40 "$log"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  echo "fuzz_$t: ${runs} executions in ${seconds} s"
done
exit $status
