#!/usr/bin/env bash
# BatchLLM on offline batches (every request arrives at t = 0), Llama-3.1-8B on one H100
# (the default scenario: calibrated costs, paged KV with prefix caching):
#  - mooncake: the first N requests of Mooncake's conversation trace (hash ids of 512 tokens;
#    ../shared/data/traces/mooncake/conversation_trace.jsonl), timestamps set to 0;
#  - groups: N generated requests, each prompt one of 32 shared 2048-token prefixes plus an
#    Azure-conversation-like tail, Azure-like outputs.
# Runs batchllm, vllm_v1 (FCFS) and sglang (lpm) at gpu_memory_utilization 0.9 (the default)
# and 0.3 (KV cut, so prefixes compete for the cache) into
# out/batchllm/<util>/<workload>/<impl>/ and prints a Markdown table. Makespan: the last
# request's end (all arrive within a millisecond of t = 0).
set -euo pipefail
B=${B:-build/release/sim/cli/servesim}
N=${N:-1000}
MOONCAKE=${MOONCAKE:-../shared/data/traces/mooncake/conversation_trace.jsonl}
mkdir -p out/batchllm
python3 - "$MOONCAKE" "$N" out/batchllm/mooncake_t0.jsonl <<'PY'
import json, sys
src, n, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(src) as f, open(dst, "w") as g:
    for i, line in enumerate(f):
        if i >= n:
            break
        r = json.loads(line)
        r["timestamp"] = 0
        g.write(json.dumps(r) + "\n")
PY
mooncake=(--set 'workload={"impl":"mooncake_jsonl","path":"out/batchllm/mooncake_t0.jsonl"}')
groups=(--set workload.rate=1000000 --set workload.num_requests="$N" --set workload.duration=0
  --set workload.prefix_groups=32 --set workload.shared_prefix_tokens=2048)
scheds=(batchllm vllm_v1 sglang)
for util in 0.9 0.3; do
for wl in mooncake groups; do
  for s in "${scheds[@]}"; do
    if [ "$s" = sglang ]; then sc='{"impl":"sglang","schedule_policy":"lpm"}'; else sc="{\"impl\":\"$s\",\"max_num_seqs\":256}"; fi
    args=("${mooncake[@]}")
    [ "$wl" = groups ] && args=("${groups[@]}")
    $B run "${args[@]}" --set "scheduler=$sc" --set engine.gpu_memory_utilization="$util" \
      --out "out/batchllm/$util/$wl/$s" >/dev/null
  done
done
done
python3 - <<'PY'
import json
print("| workload | gpu_memory_utilization | scheduler | makespan (s) | prompt tokens from cache | output tok/s | TTFT p50 (s) | preemptions |")
print("|---|---|---|---|---|---|---|---|")
for wl in ["mooncake", "groups"]:
  for util in ["0.9", "0.3"]:
    for s in ["batchllm", "vllm_v1", "sglang"]:
        j = json.load(open(f"out/batchllm/{util}/{wl}/{s}/summary.json"))
        t = j["tokens"]
        print(f"| {wl} | {util} | `{s}` | {j['e2e_s']['max']:.1f} | {t['prefix_cached'] / t['prompt'] * 100:.1f}% | "
              f"{j['throughput']['output_tokens_per_s']:.0f} | {j['ttft_s']['p50']:.1f} | {j['requests']['preemptions']} |")
PY
