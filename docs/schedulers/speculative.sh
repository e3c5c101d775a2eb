#!/usr/bin/env bash
# Speculative decoding against plain decoding at fixed batch sizes: Llama-3.1-70B over TP 4 on
# H100 SXM with Llama-3.2-1B as the draft model, 512-token prompts and 256-token outputs.
# Each batch size B runs 4 x B requests (at least 8) arriving within milliseconds
# (rate 1000/s) with max_num_seqs = B, so B requests decode together the whole time.
# Writes out/specdec/<B>/<case>/ and prints one Markdown table.
# Usage: docs/schedulers/speculative.sh [batch ...]
set -euo pipefail
B_=${B:-build/release/sim/cli/servesim}
batches=("$@")
[ ${#batches[@]} -gt 0 ] || batches=(1 8 32 128)
cases=(none a0.6_k3 a0.6_k5 a0.8_k3 a0.8_k5)
for b in "${batches[@]}"; do
  n=$(( 4 * b < 8 ? 8 : 4 * b ))
  for c in "${cases[@]}"; do
    spec=()
    if [ "$c" != none ]; then
      a=${c#a}; a=${a%_k*}; k=${c#*_k}
      spec=(--set "engine.speculative={\"method\":\"draft_model\",\"draft_model\":\"Llama-3.2-1B\",\"k\":$k,\"acceptance\":$a}")
    fi
    $B_ run --quiet --set model=Llama-3.1-70B --set parallel.tp=4 --set scheduler.max_num_seqs="$b" \
      --set workload.rate=1000 --set workload.num_requests="$n" \
      --set 'workload.prompt={"dist":"fixed","value":512}' --set 'workload.output={"dist":"fixed","value":256}' \
      "${spec[@]}" --out "out/specdec/$b/$c" >/dev/null
  done
done
python3 - "${batches[@]}" <<'PY'
import json, sys
cases = ["none", "a0.6_k3", "a0.6_k5", "a0.8_k3", "a0.8_k5"]
print("| batch | case | TPOT mean (ms) | TPOT vs none | output tok/s | tok/s vs none | tokens per request-step |")
print("|---|---|---|---|---|---|---|")
for b in sys.argv[1:]:
    base = json.load(open(f"out/specdec/{b}/none/summary.json"))
    for c in cases:
        s = json.load(open(f"out/specdec/{b}/{c}/summary.json"))
        tpot, thr = s["tpot_s"]["mean"], s["throughput"]["output_tokens_per_s"]
        steps = s["steps"]["count"] * s["steps"]["mean_batch_seqs"]  # request-steps
        per_step = s["tokens"]["output"] / steps
        label = "none" if c == "none" else f"α {c[1:4]}, k {c[-1]}"
        print(f"| {b} | {label} | {tpot * 1e3:.2f} | {tpot / base['tpot_s']['mean']:.2f}x | {thr:.0f} | "
              f"{thr / base['throughput']['output_tokens_per_s']:.2f}x | {per_step:.2f} |")
PY
