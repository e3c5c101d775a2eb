#!/usr/bin/env bash
# Priority preemption and its context-switch cost: the three-client workload of clients.sh
# at 11 req/s with the KV cache cut to gpu_memory_utilization 0.3, under the `priority`
# scheduler preempting by recompute, by swap with vLLM's per-block copies, and by swap with
# one copy per buffer (FastSwitch's coalesced swap); then the rest of FastSwitch: swaps
# overlapped with compute (engine.swap_overlap), reuse of host KV (kv.swap_reuse), both,
# and priorities that rotate among the clients every 30 s (workload.priority_rotation).
# Writes out/switch/<case>/.
set -euo pipefail
B=${B:-build/release/sim/cli/servesim}
clients='[{"weight":8,"priority":2},{"weight":1,"priority":0},{"weight":1,"priority":1}]'
run() {
  local name=$1 mode=$2 copy=$3
  shift 3
  $B run --set "scheduler={\"impl\":\"priority\",\"preemption_mode\":\"$mode\"}" --set "kv.swap_copy=$copy" \
    --set workload.rate=11 --set "workload.clients=$clients" --set engine.gpu_memory_utilization=0.3 \
    "$@" --out "out/switch/$name" >/dev/null
}
run recompute recompute per_block
run swap_per_block swap per_block
run swap_coalesced swap coalesced
run swap_per_block_overlap swap per_block --set engine.swap_overlap=true
run swap_coalesced_overlap swap coalesced --set engine.swap_overlap=true
run swap_coalesced_reuse swap coalesced --set kv.swap_reuse=true
run swap_coalesced_overlap_reuse swap coalesced --set engine.swap_overlap=true --set kv.swap_reuse=true
run rotation_recompute recompute per_block --set workload.priority_rotation=30s
run rotation_fastswitch swap coalesced --set workload.priority_rotation=30s --set engine.swap_overlap=true \
  --set kv.swap_reuse=true
python3 - <<'PY'
import json
cases = ["recompute", "swap_per_block", "swap_coalesced", "swap_per_block_overlap", "swap_coalesced_overlap",
         "swap_coalesced_reuse", "swap_coalesced_overlap_reuse", "rotation_recompute", "rotation_fastswitch"]
print("| case | preemptions | KV copy time (s) | swapped out (GB) | reused (GB) | output tok/s |"
      " client 0 TTFT p99 (s) | client 0 TPOT p99 (ms) | client 1 TTFT p99 (s) | client 1 TPOT p99 (ms) |"
      " client 2 TTFT p99 (s) | client 2 TPOT p99 (ms) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for c in cases:
    s = json.load(open(f"out/switch/{c}/summary.json"))
    k, kv = s["clients"], s["kv"][0]
    row = [f"`{c}`", str(s["requests"]["preemptions"]), f"{s['kv_swap_s']:.1f}", f"{kv['swap_out_bytes'] / 1e9:.1f}",
           f"{kv.get('swap_reused_bytes', 0) / 1e9:.1f}", f"{s['throughput']['output_tokens_per_s']:.0f}"]
    for i in "012":
        row += [f"{k[i]['ttft_s']['p99']:.2f}", f"{k[i]['tpot_s']['p99'] * 1e3:.1f}"]
    print("| " + " | ".join(row) + " |")
PY
