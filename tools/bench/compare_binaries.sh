#!/usr/bin/env bash
# Speed of two servesim binaries on the same runs, as ratios from one session: each case runs
# BEFORE and AFTER alternately (REPEAT times, one core, fresh processes under /usr/bin/time);
# the table gives the median wall and CPU seconds, peak RSS and AFTER/BEFORE.
#   tools/bench/compare_binaries.sh BEFORE_BINARY AFTER_BINARY
# CASES=REGEX runs only the cases whose name matches (e.g. CASES=Vidur).
# Build BEFORE from an older commit in a worktree, e.g.
#   git worktree add /tmp/before <commit> && (cd /tmp/before && cmake --preset release && cmake --build --preset release --target servesim)
set -euo pipefail
before=$1
after=$2
repeat=${REPEAT:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# name | servesim run arguments (the embedded default scenario, changed by --set)
cases=(
  "default scenario, 10 requests (fixed costs: catalog, cost profile, output)|--set workload.num_requests=10"
  "default 100k requests, 1 replica|--set workload.num_requests=100000 --set workload.duration=0"
  "default x16 traffic, 200k requests, 16 replicas|--set replicas=16 --set workload.rate=88 --set workload.num_requests=200000 --set workload.duration=0"
  "Mooncake conversation trace (12k requests), 1 replica|--set workload={\"impl\":\"mooncake_jsonl\",\"path\":\"../shared/data/traces/mooncake/conversation_trace.jsonl\"}"
  "Mooncake conversation trace, 8 replicas, round robin|--set replicas=8 --set workload={\"impl\":\"mooncake_jsonl\",\"path\":\"../shared/data/traces/mooncake/conversation_trace.jsonl\"}"
  "Vidur comparison (10k requests, Llama-2-70B TP2 A100), calibrated|tools/bench/scenarios/vidur_llama2_70b_a100.json"
  "Vidur comparison, roofline|tools/bench/scenarios/vidur_llama2_70b_a100.json --set cost.impl=roofline"
  "default, tight KV (3,000 blocks: requests wait and are preempted), 20k requests|--set workload.num_requests=20000 --set workload.duration=0 --set workload.rate=20 --set kv.num_gpu_blocks_override=3000"
)
printf '| run | before wall s | before CPU s | after wall s | after CPU s | after/before (CPU) | peak RSS before/after MB |\n'
printf '| --- | --- | --- | --- | --- | --- | --- |\n'
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for c in "${cases[@]}"; do
  name=${c%%|*}
  args=${c#*|}
  [[ "$name" =~ ${CASES:-.} ]] || continue
  for which in before after; do
    : > "$tmp/$which.txt"
  done
  for ((i = 0; i < repeat; i++)); do
    for which in before after; do
      bin=$before
      [ "$which" = after ] && bin=$after
      # shellcheck disable=SC2086
      /usr/bin/time -f "%e %U %S %M" -o "$tmp/t" taskset -c 0 "$bin" run --quiet --out "$tmp/out_$which" $args
      cat "$tmp/t" >> "$tmp/$which.txt"
    done
  done
  bw=$(awk '{print $1}' "$tmp/before.txt" | median); bc=$(awk '{print $2+$3}' "$tmp/before.txt" | median)
  aw=$(awk '{print $1}' "$tmp/after.txt" | median); ac=$(awk '{print $2+$3}' "$tmp/after.txt" | median)
  br=$(awk '{print $4}' "$tmp/before.txt" | median); ar=$(awk '{print $4}' "$tmp/after.txt" | median)
  awk -v n="$name" -v bw="$bw" -v bc="$bc" -v aw="$aw" -v ac="$ac" -v br="$br" -v ar="$ar" \
    'BEGIN { printf "| %s | %s | %.2f | %s | %.2f | %.2f | %.0f / %.0f |\n", n, bw, bc, aw, ac, ac / bc, br / 1024, ar / 1024 }'
done
