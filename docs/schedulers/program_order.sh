#!/usr/bin/env bash
# Continuum's program-aware queue order (scheduler.queue_order=program) against vLLM's FCFS
# over calls, with and without the KV time-to-live (kv_ttl_tool_multiple=3), on the agent
# workload of agents.sh (300 generated programs, default scenario). Writes
# out/program_order/<rate>/<case>/ and prints one Markdown table.
# Usage: docs/schedulers/program_order.sh [rate ...]   (programs per second)
set -euo pipefail
B=${B:-build/release/sim/cli/servesim}
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(2.5 3 4)
cases=("fcfs_none=workload.kv_ttl=0 scheduler.queue_order=arrival"
       "program_none=workload.kv_ttl=0 scheduler.queue_order=program"
       "fcfs_ttl=workload.kv_ttl_tool_multiple=3 scheduler.queue_order=arrival"
       "program_ttl=workload.kv_ttl_tool_multiple=3 scheduler.queue_order=program")
for rate in "${rates[@]}"; do
  for c in "${cases[@]}"; do
    sets=()
    for kv in ${c#*=}; do sets+=(--set "$kv"); done
    $B run --set 'workload={"impl":"agent","num_programs":300,"duration":0}' --set workload.rate="$rate" \
      "${sets[@]}" --out "out/program_order/$rate/${c%%=*}" >/dev/null
  done
done
python3 - "${rates[@]}" <<'PY'
import json, sys
print("| programs/s | queue order | KV TTL | JCT mean (s) | JCT p50 (s) | JCT p99 (s) | TTFT p50 (ms) | TTFT p99 (ms) | prefix hit | preemptions |")
print("|---|---|---|---|---|---|---|---|---|---|")
for rate in sys.argv[1:]:
    for c in ["fcfs_none", "program_none", "fcfs_ttl", "program_ttl"]:
        s = json.load(open(f"out/program_order/{rate}/{c}/summary.json"))
        j, t = s["programs"]["jct_s"], s["ttft_s"]
        hit = s["tokens"]["prefix_cached"] / s["tokens"]["prompt"]
        order, ttl = c.split("_")
        print(f"| {rate} | {order} | {'mean_x3' if ttl == 'ttl' else 'none'} | {j['mean']:.2f} | {j['p50']:.2f} | {j['p99']:.2f} | "
              f"{t['p50'] * 1e3:.0f} | {t['p99'] * 1e3:.0f} | {hit:.3f} | {s['requests']['preemptions']} |")
PY
