#!/usr/bin/env bash
# Nexus (intra-GPU prefill/decode co-location) against vllm_v1 and sarathi on the default scenario (Llama-3.1-8B on one
# H100, Azure-conversation-like traffic) at the given arrival rates. Writes out/nexus/<rate>/<impl>/
# and prints one Markdown table per rate. Usage: docs/schedulers/nexus.sh [rate ...]
set -euo pipefail
B=${B:-build/release/sim/cli/servesim}
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(5.5 11 16.5)
impls=(nexus vllm_v1 sarathi)
for rate in "${rates[@]}"; do
  for impl in "${impls[@]}"; do
    $B run --set scheduler.impl="$impl" --set workload.rate="$rate" --out "out/nexus/$rate/$impl" >/dev/null
  done
  python3 - "$rate" "${impls[@]}" <<'PY'
import json, sys
rate, impls = sys.argv[1], sys.argv[2:]
print(f"\n**{rate} req/s**\n")
print("| scheduler | TTFT p50 (ms) | TTFT p99 (ms) | TPOT p50 (ms) | TPOT p99 (ms) | ITL p99 (ms) | output tok/s | completed | preemptions |")
print("|---|---|---|---|---|---|---|---|---|")
for impl in impls:
    s = json.load(open(f"out/nexus/{rate}/{impl}/summary.json"))
    ms = lambda k, p: f"{s[k][p] * 1e3:.0f}" if s[k][p] * 1e3 >= 10 else f"{s[k][p] * 1e3:.1f}"
    print(f"| `{impl}` | {ms('ttft_s', 'p50')} | {ms('ttft_s', 'p99')} | {ms('tpot_s', 'p50')} | {ms('tpot_s', 'p99')} | "
          f"{ms('itl_s', 'p99')} | {s['throughput']['output_tokens_per_s']:.0f} | {s['requests']['completed']} | "
          f"{s['requests']['preemptions']} |")
PY
done
