#!/usr/bin/env bash
# Priority preemption and its context-switch cost: the three-client workload of clients.sh
# at 11 req/s with the KV cache cut to gpu_memory_utilization 0.3, under the `priority`
# scheduler preempting by recompute, by swap with vLLM's per-block copies, and by swap with
# one copy per buffer (FastSwitch's coalesced swap). Writes out/switch/<case>/.
set -euo pipefail
B=${B:-build/release/sim/cli/servesim}
clients='[{"weight":8,"priority":2},{"weight":1,"priority":0},{"weight":1,"priority":1}]'
run() {
  $B run --set "scheduler={\"impl\":\"priority\",\"preemption_mode\":\"$2\"}" --set "kv.swap_copy=$3" \
    --set workload.rate=11 --set "workload.clients=$clients" --set engine.gpu_memory_utilization=0.3 \
    --out "out/switch/$1" >/dev/null
}
run recompute recompute per_block
run swap_per_block swap per_block
run swap_coalesced swap coalesced
python3 - <<'PY'
import json
print("| case | preemptions | KV copy time (s) | output tok/s | client 0 TTFT p99 (s) | client 0 TPOT p99 (ms) | client 1 TTFT p99 (s) | client 1 TPOT p99 (ms) |")
print("|---|---|---|---|---|---|---|---|")
for c in ["recompute", "swap_per_block", "swap_coalesced"]:
    s = json.load(open(f"out/switch/{c}/summary.json"))
    k = s["clients"]
    print(f"| `{c}` | {s['requests']['preemptions']} | {s['kv_swap_s']:.1f} | {s['throughput']['output_tokens_per_s']:.0f} | "
          f"{k['0']['ttft_s']['p99']:.2f} | {k['0']['tpot_s']['p99'] * 1e3:.1f} | {k['1']['ttft_s']['p99']:.2f} | "
          f"{k['1']['tpot_s']['p99'] * 1e3:.1f} |")
PY
