#!/usr/bin/env bash
# SGLang's cache-aware order: the default scenario at 5.5 req/s where every prompt starts
# with one of 64 shared 2048-token prefixes, with the KV cache cut to
# gpu_memory_utilization 0.3 so the prefix cache cannot keep every prefix. Runs sglang with
# schedule_policy fcfs and lpm into out/lpm/<policy>/ and prints a Markdown table.
set -euo pipefail
B=${B:-build/release/sim/cli/servesim}
for pol in fcfs lpm; do
  $B run --set "scheduler={\"impl\":\"sglang\",\"schedule_policy\":\"$pol\"}" --set workload.rate=5.5 \
    --set workload.prefix_groups=64 --set workload.shared_prefix_tokens=2048 --set engine.gpu_memory_utilization=0.3 \
    --out "out/lpm/$pol" >/dev/null
done
python3 - <<'PY'
import json
print("| schedule_policy | prompt tokens from cache | TTFT p50 (s) | TTFT p99 (s) | TPOT p50 (ms) | req/s | preemptions |")
print("|---|---|---|---|---|---|---|")
for pol in ["fcfs", "lpm"]:
    s = json.load(open(f"out/lpm/{pol}/summary.json"))
    t = s["tokens"]
    print(f"| `{pol}` | {t['prefix_cached'] / t['prompt'] * 100:.0f}% | {s['ttft_s']['p50']:.1f} | {s['ttft_s']['p99']:.1f} | "
          f"{s['tpot_s']['p50'] * 1e3:.1f} | {s['throughput']['requests_per_s']:.2f} | {s['requests']['preemptions']} |")
PY
