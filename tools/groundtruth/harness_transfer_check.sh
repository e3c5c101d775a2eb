#!/usr/bin/env bash
# Derive's rule checked between two chips of one layout that ran the same kernels: servesim's
# harness (cuBLASLt GEMMs, FlashAttention 2 / cuDNN prefill, FlashAttention 2 and servesim's
# own decode kernels) measured on an H200 (calibration/data/h200) and on an H100
# (calibration/data/h100). Both ways:
#   H200 -> H100: the committed h200_sxm profile derived to h100_sxm, scored on every H100 row;
#   H100 -> H200: a profile fitted on every H100 row, derived to h200_sxm, scored on every
#                 H200 row of the same families.
# calibration/FITTING.md ("Derived profiles") has the results.
#   tools/groundtruth/harness_transfer_check.sh SERVESIM [RESIDUALS_OUT]
# RESIDUALS_OUT (optional): the H200 -> H100 check's residuals (what derive --expected-error reads).
set -euo pipefail
B=$1
OUT=${2:-}
cd "$(dirname "$0")/../.."
H100=calibration/data/h100
H200=calibration/data/h200
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
families=(gemm.csv attention_decode.csv attention_prefill.csv)
h100=()
h200=()
for f in "${families[@]}" attention_prefill_cudnn.csv; do
  [ -f "$H100/$f" ] && h100+=("$H100/$f")
  [ -f "$H200/$f" ] && [ -f "$H100/$f" ] && h200+=("$H200/$f")
done
echo "## H200 -> H100 (committed h200_sxm derived; every H100 row)"
"$B" calibrate derive --device h100_sxm --from h200_sxm --out "$tmp/h100_from_h200.json" >/dev/null
"$B" calibrate check --device h100_sxm --profile "$tmp/h100_from_h200.json" --data "${h100[@]}" --markdown \
  ${OUT:+--residuals-out "$OUT"}
echo
echo "## H100 -> H200 (fitted on every H100 row, derived; every H200 row of those families)"
"$B" calibrate fit --device h100_sxm --kernel-set harness --holdout-modulus 0 --data "${h100[@]}" --out "$tmp/h100_harness.json" >/dev/null
"$B" calibrate derive --device h200_sxm --from "$tmp/h100_harness.json" --out "$tmp/h200_from_h100.json" >/dev/null
"$B" calibrate check --device h200_sxm --profile "$tmp/h200_from_h100.json" --data "${h200[@]}" --markdown
