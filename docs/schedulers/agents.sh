#!/usr/bin/env bash
# Continuum's KV time-to-live against vLLM's default (free to the evictable prefix cache) on
# closed-loop agent programs (the `agent` workload's generated defaults) on the default
# scenario (Llama-3.1-8B on one H100, vllm_v1, paged KV with prefix caching). Writes
# out/agents/<rate>/<ttl>/ and prints one Markdown table per program rate.
# Usage: docs/schedulers/agents.sh [rate ...]   (programs per second)
set -euo pipefail
B=${B:-build/release/sim/cli/servesim}
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(2 2.5 3 4)
# name=override
rules=("none=workload.kv_ttl=0" "mean_x1=workload.kv_ttl_tool_multiple=1" "mean_x3=workload.kv_ttl_tool_multiple=3"
       "p90=workload.kv_ttl_tool_percentile=90")
for rate in "${rates[@]}"; do
  for rule in "${rules[@]}"; do
    $B run --set 'workload={"impl":"agent","num_programs":300,"duration":0}' --set workload.rate="$rate" \
      --set "${rule#*=}" --out "out/agents/$rate/${rule%%=*}" >/dev/null
  done
  python3 - "$rate" "${rules[@]%%=*}" <<'PY'
import json, sys
rate, names = sys.argv[1], sys.argv[2:]
print(f"\n**{rate} programs/s**\n")
print("| KV TTL | JCT mean (s) | JCT p50 (s) | JCT p99 (s) | TTFT p50 (ms) | TTFT p99 (ms) | prefix hit | preemptions | KV util p50 |")
print("|---|---|---|---|---|---|---|---|---|")
for n in names:
    s = json.load(open(f"out/agents/{rate}/{n}/summary.json"))
    j, t, kv = s["programs"]["jct_s"], s["ttft_s"], s["kv"][0]
    hit = s["tokens"]["prefix_cached"] / s["tokens"]["prompt"]
    print(f"| {n} | {j['mean']:.2f} | {j['p50']:.2f} | {j['p99']:.2f} | {t['p50'] * 1e3:.0f} | {t['p99'] * 1e3:.0f} | "
          f"{hit:.3f} | {s['requests']['preemptions']} | {s['kv_utilization']['p50']:.2f} |")
PY
done
