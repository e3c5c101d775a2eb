#!/usr/bin/env bash
# Three clients on the default scenario: client 0 sends 80% of the traffic (priority 2),
# clients 1 and 2 10% each (priorities 0 and 1), at the given total rate (default 16.5
# req/s). Runs vllm_v1, priority and vtc into out/clients/<impl>/ and prints per-client tails.
set -euo pipefail
B=${B:-build/release/sim/cli/servesim}
rate=${1:-16.5}
clients='[{"weight":8,"priority":2},{"weight":1,"priority":0},{"weight":1,"priority":1}]'
impls=(vllm_v1 priority vtc)
for impl in "${impls[@]}"; do
  $B run --set scheduler.impl="$impl" --set workload.rate="$rate" --set "workload.clients=$clients" \
    --out "out/clients/$impl" >/dev/null
done
python3 - "${impls[@]}" <<'PY'
import json, sys
print("| scheduler | client (priority) | completed | TTFT p50 (ms) | TTFT p99 (ms) | TPOT p50 (ms) | TPOT p99 (ms) | output tokens |")
print("|---|---|---|---|---|---|---|---|")
for impl in sys.argv[1:]:
    s = json.load(open(f"out/clients/{impl}/summary.json"))
    for c, v in s["clients"].items():
        print(f"| `{impl}` | {c} ({v['priority']}) | {v['completed']} | {v['ttft_s']['p50'] * 1e3:.0f} | "
              f"{v['ttft_s']['p99'] * 1e3:.0f} | {v['tpot_s']['p50'] * 1e3:.1f} | {v['tpot_s']['p99'] * 1e3:.1f} | "
              f"{v['tokens']['output']} |")
PY
