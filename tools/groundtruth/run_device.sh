#!/usr/bin/env bash
# Runs a phase of the ground-truth collection on the device machine; results go under $OUT.
# Usage (from the repo root): tools/groundtruth/run_device.sh smoke|main|final|arch_llama2|arch_qwen14|arch_qwen14_low|arch_sweeps|fit_probe|repeat|order
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gt_out}
RUNS=/tmp/gt_runs
mkdir -p "$OUT" "$RUNS"
D=tools/groundtruth/driver.py
W=tools/groundtruth/workloads
LOG="$OUT/log_$1.txt"
pack() { tar czf "$OUT/gt_$1.tgz" -C "$RUNS" . 2>/dev/null; }
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv >>"$LOG" 2>&1
case "$1" in
smoke)
  timeout 120 python3 $D --model-config models/Llama-3.1-8B/config.json --model-name tiny2l \
    --override num_hidden_layers=2 --max-memory-percent 0.3 --quick-sweep --warmup-requests 4 --out $RUNS/tiny \
    --run name=tiny_offline,mode=offline,workload=$W/azure_conv_s1_n200.csv,n=20,seed=1,role=smoke \
    --run name=tiny_online,mode=online,rate=20,workload=$W/azure_conv_s2_n200.csv,n=30,seed=2,role=smoke \
    2>&1 | tee -a "$LOG"
  pack smoke
  timeout 300 python3 $D --model-config models/Llama-3.1-8B/config.json --model-name llama3.1-8b \
    --sweep --out $RUNS/llama3.1-8b --max-run-seconds 110 --deadline 200 \
    --run name=llama8b_offline_cal_s1,mode=offline,workload=$W/azure_conv_s1_n200.csv,n=120,seed=101,role=calibration \
    2>&1 | tee -a "$LOG"
  pack smoke
  ;;
main)
  T0=$(date +%s)
  left() { echo $(( 565 - ($(date +%s) - T0) )); }
  timeout 300 python3 $D --model-config models/Llama-3.1-8B/config.json --model-name llama3.1-8b \
    --sdpa-backend no-cudnn --sdpa-probe --sweep --max-memory-percent 0.8 --out $RUNS/llama3.1-8b \
    --max-run-seconds 80 --deadline 215 \
    --run name=llama8b_offline_cal,mode=offline,workload=$W/azure_conv_s1_n200.csv,n=100,seed=101,role=calibration \
    --run name=llama8b_online_r2_cal,mode=online,rate=2.0,workload=$W/azure_conv_s2_n200.csv,n=100,seed=102,role=calibration \
    --run name=llama8b_online_r3_val,mode=online,rate=3.0,workload=$W/azure_conv_s3_n200.csv,n=120,seed=103,role=validation \
    --run name=llama8b_offline_val,mode=offline,workload=$W/azure_conv_s5_n200.csv,n=100,seed=105,role=validation \
    --run name=llama8b_online_r1.5_val,mode=online,rate=1.5,workload=$W/azure_conv_s4_n200.csv,n=50,seed=104,role=validation \
    2>&1 | tee -a "$LOG"
  pack main
  L=$(left); echo "left after llama: $L" | tee -a "$LOG"
  if [ "$L" -gt 90 ]; then
  timeout $(( L - 45 > 185 ? 185 : L - 45 )) python3 $D --model-config models/Qwen2.5-7B/config.json --model-name qwen2.5-7b \
    --sdpa-backend no-cudnn --sdpa-probe --sweep --max-memory-percent 0.8 --out $RUNS/qwen2.5-7b \
    --max-run-seconds 75 --deadline $(( L - 150 > 100 ? 100 : L - 150 )) \
    --run name=qwen7b_offline_cal,mode=offline,workload=$W/azure_conv_s6_n200.csv,n=100,seed=201,role=calibration \
    --run name=qwen7b_online_r3_val,mode=online,rate=3.0,workload=$W/azure_conv_s3_n200.csv,first=50,n=120,seed=203,role=validation \
    --run name=qwen7b_online_r2_cal,mode=online,rate=2.0,workload=$W/azure_conv_s2_n200.csv,first=100,n=60,seed=202,role=calibration \
    2>&1 | tee -a "$LOG"
  pack main
  fi
  L=$(left); echo "left after qwen: $L" | tee -a "$LOG"
  if [ "$L" -gt 50 ]; then
  timeout $(( L - 5 )) python3 $D --model-config models/Llama-3.1-8B/config.json --model-name llama3.1-8b-default-sdpa \
    --sdpa-backend default --sdpa-probe --max-memory-percent 0.8 --out $RUNS/llama3.1-8b-default-sdpa \
    --max-run-seconds $(( L - 25 )) --warmup-requests 4 \
    --run name=llama8b_online_r2_ref_default_sdpa,mode=online,rate=2.0,workload=$W/azure_conv_s2_n200.csv,n=40,seed=102,role=reference \
    2>&1 | tee -a "$LOG"
  fi
  ;;
final)
  timeout 190 python3 $D --model-config models/Llama-3.1-8B/config.json --model-name llama3.1-8b \
    --sdpa-backend default --sdpa-probe --sweep --sweep-reps 2 --sweep-kv-cap 131072 --max-memory-percent 0.8 \
    --out $RUNS/llama3.1-8b --max-run-seconds 70 --deadline 135 \
    --run name=llama8b_offline_cal,mode=offline,workload=$W/azure_conv_s1_n200.csv,n=60,max_out=256,seed=101,role=calibration \
    --run name=llama8b_online_r1.5_cal,mode=online,rate=1.5,workload=$W/azure_conv_s2_n200.csv,first=40,n=40,max_out=256,seed=106,role=calibration \
    --run name=llama8b_online_r3_val,mode=online,rate=3.0,workload=$W/azure_conv_s3_n200.csv,n=45,max_out=256,seed=103,role=validation \
    --run name=llama8b_offline_val,mode=offline,workload=$W/azure_conv_s5_n200.csv,n=40,max_out=256,seed=105,role=validation \
    2>&1 | tee -a "$LOG"
  pack final
  timeout 125 python3 $D --model-config models/Qwen2.5-7B/config.json --model-name qwen2.5-7b \
    --sdpa-backend default --max-memory-percent 0.8 --out $RUNS/qwen2.5-7b --max-run-seconds 60 --deadline 60 \
    --run name=qwen7b_offline_cal,mode=offline,workload=$W/azure_conv_s6_n200.csv,n=50,max_out=256,seed=201,role=calibration \
    --run name=qwen7b_online_r2_val,mode=online,rate=2.0,workload=$W/azure_conv_s3_n200.csv,first=50,n=40,max_out=256,seed=203,role=validation \
    2>&1 | tee -a "$LOG"
  ;;
arch_llama2)
  # Held-out architectures (issue 14 section 4): MHA Llama-2-7B; never used by the fit.
  timeout 560 python3 $D --model-config models/Llama-2-7b-hf/config.json --model-name llama2-7b \
    --sdpa-backend default --sdpa-probe --max-memory-percent 0.8 --out $RUNS/llama2-7b --max-run-seconds 70 --deadline 420 \
    --run name=llama2_7b_offline_val,mode=offline,workload=$W/azure_conv_s5_n200.csv,n=50,max_out=256,seed=301,role=validation \
    --run name=llama2_7b_online_r1.5_val,mode=online,rate=1.5,workload=$W/azure_conv_s4_n200.csv,n=40,max_out=256,seed=302,role=validation \
    --run name=llama2_7b_online_r3_val,mode=online,rate=3.0,workload=$W/azure_conv_s3_n200.csv,n=45,max_out=256,seed=303,role=validation \
    2>&1 | tee -a "$LOG"
  ;;
arch_qwen14)
  # Held-out architecture (issue 14 section 4): Qwen2.5-14B, 48 layers, GQA 40/8; never used by the fit.
  timeout 560 python3 $D --model-config models/Qwen2.5-14B/config.json --model-name qwen2.5-14b \
    --sdpa-backend default --sdpa-probe --max-memory-percent 0.8 --out $RUNS/qwen2.5-14b --max-run-seconds 70 --deadline 400 \
    --run name=qwen14b_offline_val,mode=offline,workload=$W/azure_conv_s5_n200.csv,first=50,n=50,max_out=256,seed=401,role=validation \
    --run name=qwen14b_online_r1.5_val,mode=online,rate=1.5,workload=$W/azure_conv_s4_n200.csv,first=40,n=40,max_out=256,seed=402,role=validation \
    --run name=qwen14b_online_r3_val,mode=online,rate=3.0,workload=$W/azure_conv_s3_n200.csv,first=90,n=45,max_out=256,seed=403,role=validation \
    2>&1 | tee -a "$LOG"
  ;;
arch_qwen14_low)
  # Qwen2.5-14B online at rates an H100/H200 sustains (offline ~0.9 req/s; 1.5 req/s overloads it). The
  # workload rows start at 0: arrivals are not rebased to the first row taken (first=K delays them).
  timeout 560 python3 $D --model-config models/Qwen2.5-14B/config.json --model-name qwen2.5-14b \
    --sdpa-backend default --sdpa-probe --max-memory-percent 0.8 --out $RUNS/qwen2.5-14b --max-run-seconds 115 --deadline 300 \
    --run name=qwen14b_online_r0.4_val,mode=online,rate=0.4,workload=$W/azure_conv_s4_n200.csv,n=16,max_out=256,seed=404,role=validation \
    --run name=qwen14b_online_r0.6_val,mode=online,rate=0.6,workload=$W/azure_conv_s3_n200.csv,n=20,max_out=256,seed=405,role=validation \
    2>&1 | tee -a "$LOG"
  ;;
arch_sweeps)
  # Forward sweeps of the held-out architectures (no runs): launch time per step with the cuDNN
  # plan cached (repeats) and on a new shape (first call), the GPU-only time, per batch shape.
  timeout 250 python3 $D --model-config models/Llama-2-7b-hf/config.json --model-name llama2-7b \
    --sdpa-backend default --sdpa-probe --sweep --sweep-reps 2 --sweep-kv-cap 131072 --max-memory-percent 0.8 \
    --out $RUNS/llama2-7b --deadline 220 2>&1 | tee -a "$LOG"
  pack arch_sweeps
  timeout 290 python3 $D --model-config models/Qwen2.5-14B/config.json --model-name qwen2.5-14b \
    --sdpa-backend default --sdpa-probe --sweep --sweep-reps 2 --sweep-kv-cap 131072 --max-memory-percent 0.8 \
    --out $RUNS/qwen2.5-14b --deadline 260 2>&1 | tee -a "$LOG"
  ;;
repeat)
  # Run-to-run variation on one machine instance: the fit model with one calibration run's
  # requests (final's 1.5 req/s run) three times in each of two processes of one lease, each
  # process with its own host probe. What `validate --uncertainty` cannot draw from the host
  # population (one instance per process), and how much a probe varies within one lease.
  for P in a b; do
  timeout 280 python3 $D --model-config models/Llama-3.1-8B/config.json --model-name llama3.1-8b-rep$P \
    --sdpa-backend default --sdpa-probe --max-memory-percent 0.8 --out $RUNS/rep$P --max-run-seconds 75 --deadline 240 \
    --run name=rep${P}1_llama8b_online_r1.5,mode=online,rate=1.5,workload=$W/azure_conv_s2_n200.csv,first=40,n=40,max_out=256,seed=106,role=validation \
    --run name=rep${P}2_llama8b_online_r1.5,mode=online,rate=1.5,workload=$W/azure_conv_s2_n200.csv,first=40,n=40,max_out=256,seed=106,role=validation \
    --run name=rep${P}3_llama8b_online_r1.5,mode=online,rate=1.5,workload=$W/azure_conv_s2_n200.csv,first=40,n=40,max_out=256,seed=106,role=validation \
    2>&1 | tee -a "$LOG"
  pack repeat
  done
  ;;
order)
  # Does a run's place in its process matter when the runs' requests differ? Two workloads
  # (X: final's 1.5 req/s calibration requests; Y: another slice of the trace at the same
  # rate), X then Y in one process and Y then X in another, each process with its own host
  # probe. The repeat phase ran identical requests, whose shapes a later run finds cached.
  for P in a b; do
  if [ $P = a ]; then ORDER="X Y"; else ORDER="Y X"; fi
  ARGS=()
  k=0
  for R in $ORDER; do
    k=$((k + 1))
    if [ $R = X ]; then WL="workload=$W/azure_conv_s2_n200.csv,first=40,seed=106"; else WL="workload=$W/azure_conv_s4_n200.csv,first=0,seed=104"; fi
    ARGS+=(--run "name=ord${P}${k}_${R}_llama8b_online_r1.5,mode=online,rate=1.5,$WL,n=40,max_out=256,role=validation")
  done
  timeout 280 python3 $D --model-config models/Llama-3.1-8B/config.json --model-name llama3.1-8b-ord$P \
    --sdpa-backend default --sdpa-probe --max-memory-percent 0.8 --out $RUNS/ord$P --max-run-seconds 75 --deadline 200 \
    "${ARGS[@]}" 2>&1 | tee -a "$LOG"
  pack order
  done
  ;;
fit_probe)
  # The fit model (Llama-3.1-8B) again on another machine instance, with the host probe the
  # November fit runs lack: its sweep and final's 1.5 req/s run (same requests), to check that a
  # run's own probe carries the fitted host constants to another instance (--host-probe).
  timeout 190 python3 $D --model-config models/Llama-3.1-8B/config.json --model-name llama3.1-8b \
    --sdpa-backend default --sdpa-probe --sweep --sweep-reps 2 --sweep-kv-cap 131072 --max-memory-percent 0.8 \
    --out $RUNS/llama3.1-8b --max-run-seconds 75 --deadline 150 \
    --run name=llama8b_online_r1.5_cal,mode=online,rate=1.5,workload=$W/azure_conv_s2_n200.csv,first=40,n=40,max_out=256,seed=106,role=calibration \
    2>&1 | tee -a "$LOG"
  ;;
esac
nvidia-smi --query-gpu=name,memory.used,clocks.sm,temperature.gpu,power.draw --format=csv >>"$LOG" 2>&1
pack "$1"
ls -la "$OUT"
