#!/usr/bin/env bash
# FastSwitch's reuse of host KV on multi-turn chat: the open-loop `multiturn` workload
# (sessions at 2 or 3 per second for 3 min, a turn every 5 s on average) on the default
# scenario with the KV cache cut to gpu_memory_utilization 0.25, vllm_v1 preempting by
# coalesced swap, with and without kv.swap_reuse. Open loop, so both runs serve the same
# requests. Writes out/swap_reuse/<rate>/<reuse>/ and prints one Markdown table.
set -euo pipefail
B=${B:-build/release/sim/cli/servesim}
for rate in 2 3; do
  for reuse in false true; do
    $B run --set "workload={\"impl\":\"multiturn\",\"rate\":$rate,\"duration\":\"3min\",\"think_time\":\"5s\"}" \
      --set scheduler.preemption_mode=swap --set kv.swap_copy=coalesced --set kv.swap_reuse=$reuse \
      --set engine.gpu_memory_utilization=0.25 --out "out/swap_reuse/$rate/$reuse" >/dev/null
  done
done
python3 - <<'PY'
import json
print("| sessions/s | swap_reuse | preemptions | KV copy time (s) | swapped out (GB) | reused (GB) | TTFT p50 (s) | TTFT p99 (s) | TPOT p99 (ms) |")
print("|---|---|---|---|---|---|---|---|---|")
for rate in ["2", "3"]:
    for reuse in ["false", "true"]:
        s = json.load(open(f"out/swap_reuse/{rate}/{reuse}/summary.json"))
        kv = s["kv"][0]
        print(f"| {rate} | {reuse} | {s['requests']['preemptions']} | {s['kv_swap_s']:.2f} | {kv['swap_out_bytes'] / 1e9:.1f} | "
              f"{kv.get('swap_reused_bytes', 0) / 1e9:.1f} | {s['ttft_s']['p50']:.2f} | {s['ttft_s']['p99']:.2f} | "
              f"{s['tpot_s']['p99'] * 1e3:.1f} |")
PY
