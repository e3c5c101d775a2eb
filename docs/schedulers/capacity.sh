#!/usr/bin/env bash
# The capacity cost of worst-case KV reservation: the default scenario at 11 req/s with the
# KV cache cut to gpu_memory_utilization 0.3, under paged allocation on demand (vllm_v1,
# trtllm MAX_UTILIZATION) and reservation of the maximum length (orca, trtllm
# GUARANTEED_NO_EVICT). Writes out/capacity/<case>/ and prints a Markdown table.
set -euo pipefail
B=${B:-build/release/sim/cli/servesim}
common=(--set workload.rate=11 --set engine.gpu_memory_utilization=0.3)
run() {
  local name=$1
  shift
  $B run "${common[@]}" "$@" --out "out/capacity/$name" >/dev/null
}
run vllm_v1 --set scheduler.impl=vllm_v1
run trtllm_max_utilization --set 'scheduler={"impl":"trtllm","capacity_scheduler_policy":"MAX_UTILIZATION"}'
run trtllm_no_evict --set scheduler.impl=trtllm
run orca_exact --set scheduler.impl=orca
run orca_max_tokens_2048 --set 'scheduler={"impl":"orca","max_tokens":2048}'
python3 - <<'PY'
import json
cases = ["vllm_v1", "trtllm_max_utilization", "trtllm_no_evict", "orca_exact", "orca_max_tokens_2048"]
print("| case | mean batch (seqs) | KV used, mean | TTFT p50 (ms) | TTFT p99 (ms) | TPOT p50 (ms) | req/s | output tok/s | preemptions |")
print("|---|---|---|---|---|---|---|---|---|")
for c in cases:
    s = json.load(open(f"out/capacity/{c}/summary.json"))
    print(f"| `{c}` | {s['steps']['mean_batch_seqs']:.1f} | {s['kv_utilization']['mean'] * 100:.0f}% | "
          f"{s['ttft_s']['p50'] * 1e3:.0f} | {s['ttft_s']['p99'] * 1e3:.0f} | {s['tpot_s']['p50'] * 1e3:.1f} | "
          f"{s['throughput']['requests_per_s']:.2f} | {s['throughput']['output_tokens_per_s']:.0f} | {s['requests']['preemptions']} |")
PY
