#!/usr/bin/env bash
# KV token dropping: Llama-3.1-8B on one H100 (the default scenario: calibrated costs, paged
# KV), an offline-like burst of N requests of 2048 prompt and 4096 output tokens (Poisson at
# 1000 req/s, so they all wait at once), vllm_v1 with max_num_seqs 1024 so that KV, not the
# sequence limit, bounds the batch. Full KV against window and h2o budgets of 1024 and 2048.
# Writes out/kvdrop/<case>/ and prints a Markdown table.
set -euo pipefail
B=${B:-build/release/sim/cli/servesim}
N=${N:-600}
common=(--set workload.rate=1000 --set workload.num_requests="$N" --set workload.duration=0
  --set 'workload.prompt={"dist":"fixed","value":2048}' --set 'workload.output={"dist":"fixed","value":4096}'
  --set scheduler.max_num_seqs=1024 --set metrics.sample_interval=0.5s)
run() {
  local name=$1
  shift
  $B run "${common[@]}" "$@" --out "out/kvdrop/$name" >/dev/null
}
run full
for b in 2048 1024; do
  run "window_$b" --set "kv.token_drop={\"policy\":\"window\",\"budget\":$b,\"sink_tokens\":4}"
  run "h2o_$b" --set "kv.token_drop={\"policy\":\"h2o\",\"budget\":$b,\"heavy_ratio\":0.5}"
done
python3 - <<'PY'
import csv, json
cases = ["full", "window_2048", "h2o_2048", "window_1024", "h2o_1024"]
print("| KV | max running (seqs) | mean batch (seqs) | output tok/s | run end (s) | TPOT p50 (ms) | TPOT p99 (ms) | TTFT p50 (s) | preemptions |")
print("|---|---|---|---|---|---|---|---|---|")
for c in cases:
    s = json.load(open(f"out/kvdrop/{c}/summary.json"))
    rows = list(csv.DictReader(open(f"out/kvdrop/{c}/timeseries.csv")))
    running = max(int(r["running"]) for r in rows)
    print(f"| `{c}` | {running} | {s['steps']['mean_batch_seqs']:.0f} | {s['throughput']['output_tokens_per_s']:.0f} | "
          f"{s['simulated_time_s']:.0f} | {s['tpot_s']['p50'] * 1e3:.1f} | {s['tpot_s']['p99'] * 1e3:.1f} | "
          f"{s['ttft_s']['p50']:.1f} | {s['requests']['preemptions']} |")
PY
