#!/usr/bin/env bash
# Re-runs the cluster experiments of docs/cluster.md and prints their tables (markdown).
#   SERVESIM=path/to/servesim DATA_DIR=/path/to/repo OUT=out/cluster docs/cluster/run_experiments.sh [1|2|3 ...]
# SERVESIM defaults to build/release/sim/cli/servesim; DATA_DIR (models/, hardware_profiles/)
# to the binary's built-in data dir; the traces are read from ../shared/data (relative to the
# repository root or to DATA_DIR). Every run takes well under a few seconds.
set -u
cd "$(dirname "$0")/../.."
SERVESIM=${SERVESIM:-build/release/sim/cli/servesim}
OUT=${OUT:-out/cluster}
D=docs/cluster
DATA_ARGS=()
[ -n "${DATA_DIR:-}" ] && DATA_ARGS=(--data-dir "$DATA_DIR")
mkdir -p "$OUT"
ONLY=("$@")
want() { [ ${#ONLY[@]} -eq 0 ] && return 0; for x in "${ONLY[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }

ROWS=()
# run NAME SCENARIO [--set ...]: one simulation into $OUT/NAME; a failure is reported, not fatal.
run() {
  local name=$1 scen=$2
  shift 2
  rm -rf "${OUT:?}/$name"
  if ! "$SERVESIM" run -s "$scen" "${DATA_ARGS[@]}" "$@" --out "$OUT/$name" -q 2> "$OUT/$name.err"; then
    echo "  run $name FAILED: $(tail -c 300 "$OUT/$name.err")" >&2
  fi
}
table() { python3 "$D/summarize.py" "$@"; echo; }

# The Azure conv trace's first 3000 requests arrive over 628.70 s (4.77 req/s); time_scale s
# gives 2999 / (628.70 s) req/s.
rate() { python3 -c "print(f'{2999 / (628.70 * $1):.1f}')"; }

if want 1; then
  echo "## 1. Disaggregated (2P+2D) vs colocated (4 mixed): Llama-3.1-70B fp8, TP 2, 8x H100 SXM"
  rows=()
  for ts in 1 0.4 0.25 0.2 0.15; do
    r=$(rate $ts)
    run "pd_mixed_$ts" $D/colocated_4mixed.json --set workload.time_scale=$ts
    run "pd_2p2d_$ts" $D/pd_2p2d.json --set workload.time_scale=$ts
    rows+=("4 mixed, $r req/s=$OUT/pd_mixed_$ts" "2P+2D, $r req/s=$OUT/pd_2p2d_$ts")
  done
  table pd "${rows[@]}"

  echo "### KV transfer modes and links (2P+2D, $(rate 0.25) req/s)"
  rows=()
  for mode in layerwise whole; do
    for link in auto network; do
      run "pd_xfer_${mode}_$link" $D/pd_2p2d.json --set kv_transfer.mode=$mode --set kv_transfer.link=$link
      rows+=("$mode, $link=$OUT/pd_xfer_${mode}_$link")
    done
  done
  table pd "${rows[@]}"

  echo "### Other splits"
  rows=()
  for ts in 0.4 0.25; do
    run "pd_3p1d_$ts" $D/pd_2p2d.json --set workload.time_scale=$ts \
      --set 'pools=[{"name":"prefill","role":"prefill","replicas":3},{"name":"decode","role":"decode","replicas":1}]'
    run "pd_1p3d_$ts" $D/pd_2p2d.json --set workload.time_scale=$ts \
      --set 'pools=[{"name":"prefill","role":"prefill","replicas":1},{"name":"decode","role":"decode","replicas":3}]'
    rows+=("3P+1D, $(rate $ts) req/s=$OUT/pd_3p1d_$ts" "1P+3D, $(rate $ts) req/s=$OUT/pd_1p3d_$ts")
  done
  rows+=("2P+2D, $(rate 0.4) req/s=$OUT/pd_2p2d_0.4" "4 mixed, $(rate 0.4) req/s=$OUT/pd_mixed_0.4")
  table pd "${rows[@]}"
fi

if want 2; then
  echo "## 2. Prefix-aware routing on Mooncake conversation_trace (first 2000 requests), 8x Llama-3.1-8B on H100"
  S=$D/prefix_mooncake_8x.json
  for tier in gpu cpu256; do
    extra=()
    [ $tier = cpu256 ] && extra=(--set kv.offload_cpu_capacity=256GiB)
    rows=()
    run "px_${tier}_one" $S "${extra[@]}" --set replicas=1
    run "px_${tier}_one_slow" $S "${extra[@]}" --set replicas=1 --set workload.time_scale=10
    rows+=("1 replica, same rate=$OUT/px_${tier}_one" "1 replica, rate / 10=$OUT/px_${tier}_one_slow")
    for r in round_robin least_load least_kv power_of_two session_affinity prefix_aware; do
      run "px_${tier}_$r" $S "${extra[@]}" --set router.impl=$r
      rows+=("$r=$OUT/px_${tier}_$r")
    done
    run "px_${tier}_weighted" $S "${extra[@]}" --set 'router={"impl":"prefix_aware","mode":"weighted"}'
    rows+=("prefix_aware weighted=$OUT/px_${tier}_weighted")
    if [ $tier = gpu ]; then
      for v in '"cache_threshold":0.1' '"cache_threshold":0.8' '"on_miss":"least_load"' '"balance_abs_threshold":8'; do
        n=$(echo "$v" | tr -dc 'a-z0-9_.')
        run "px_${tier}_pa_$n" $S --set "router={\"impl\":\"prefix_aware\",$v}"
        rows+=("prefix_aware $v=$OUT/px_${tier}_pa_$n")
      done
    fi
    echo "### KV: GPU only$([ $tier = cpu256 ] && echo ' + a 256 GiB CPU tier per replica')"
    table prefix "${rows[@]}"
  done
  echo "### Trace bounds: one block-LRU cache (512-token blocks; 867 blocks = one H100's KV, 4963 = + 256 GiB CPU)"
  python3 $D/prefix_bound.py ../shared/data/traces/mooncake/conversation_trace.jsonl 2000 512 867 6936 4963 39704
  echo
fi

if want 3; then
  echo "## 3. Heterogeneous A100 + H100 (Llama-3.1-8B, least_load), Azure conv"
  rows=()
  for ts in 0.2 0.15; do
    run "het_4a100_$ts" $D/hetero_a100_h100.json --set workload.time_scale=$ts \
      --set 'pools=[{"name":"a100","role":"mixed","replicas":4,"hardware":"a100_sxm4_80gb"}]'
    run "het_2a2h_$ts" $D/hetero_a100_h100.json --set workload.time_scale=$ts
    run "het_1a3h_$ts" $D/hetero_a100_h100.json --set workload.time_scale=$ts \
      --set 'pools=[{"name":"a100","role":"mixed","replicas":1,"hardware":"a100_sxm4_80gb"},{"name":"h100","role":"mixed","replicas":3,"hardware":"h100_sxm"}]'
    run "het_4h100_$ts" $D/hetero_a100_h100.json --set workload.time_scale=$ts \
      --set 'pools=[{"name":"h100","role":"mixed","replicas":4,"hardware":"h100_sxm"}]'
    r=$(rate $ts)
    rows+=("4 A100, $r req/s=$OUT/het_4a100_$ts" "2 A100 + 2 H100, $r req/s=$OUT/het_2a2h_$ts"
           "1 A100 + 3 H100, $r req/s=$OUT/het_1a3h_$ts" "4 H100, $r req/s=$OUT/het_4h100_$ts")
  done
  table hetero "${rows[@]}"
fi
