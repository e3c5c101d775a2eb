#!/usr/bin/env python3
"""Predict vLLM's fused-MoE layers measured on an H200 (AIConfigurator) and report the error.

Data: `../shared/data/profiling/aiconfigurator/h200_sxm/moe_vllm_0.24.0_moe_perf.csv.gz`
(ai-dynamo/aiconfigurator, Apache-2.0): vLLM 0.24's fused MoE op (routed experts' gate_up and
down GEMMs, the activation, the token permutation) timed on one H200 for many MoE shapes
(hidden, expert width, top-k, experts), token counts 1-16,384, expert TP and EP shards, and
three routing distributions. Nothing in servesim was fitted on it.

servesim prices a MoE layer's experts as its plan does (sim/parallel/impl/megatron.cpp): per
rank, `copies` = tokens x top-k / EP routed token copies spread evenly over min(local experts,
copies) active experts, `per_expert` = ceil(copies / active) rows each; a grouped GEMM
gate_up (per_expert x 2 I/TP x hidden, `active` groups), the activation (read 2 I/TP, write
I/TP per copy, at the HBM bandwidth), a grouped GEMM down (per_expert x hidden x I/TP). The
GEMMs come from `servesim cost predict` (a `groups` column) with the default cost model,
which prices grouped GEMMs by the roofline (calibration/FITTING.md, "Grouped GEMMs"). Only
`balanced` rows are compared (servesim's even spread), of the dtypes servesim's H200 profile
measured (bf16 and per-tensor fp8), at the listed token counts.

Usage: moe_check.py SERVESIM [DATA_ROOT] > results.md
"""
import csv
import gzip
import math
import os
import statistics
import subprocess
import sys
import tempfile

HBM_BANDWIDTH = 4.8e12  # H200 (hardware_profiles/devices/h200_sxm.json)
DTYPES = {"bfloat16": "bf16", "fp8": "fp8"}
TOKENS = {1, 8, 64, 512, 4096}


def rows(root):
    path = os.path.join(root, "aiconfigurator", "h200_sxm", "moe_vllm_0.24.0_moe_perf.csv.gz")
    with gzip.open(path, "rt") as f:
        for r in csv.DictReader(f):
            if r["distribution"] != "balanced" or r["moe_dtype"] not in DTYPES or int(r["num_tokens"]) not in TOKENS:
                continue
            yield r


def layer(r):
    """(dtype, per-expert rows, active experts, hidden, I per rank, copies) of one measured row."""
    tp, ep = int(r["moe_tp_size"]), int(r["moe_ep_size"])
    hidden, inter, topk, experts = int(r["hidden_size"]), int(r["inter_size"]), int(r["topk"]), int(r["num_experts"])
    copies = int(r["num_tokens"]) * topk / ep
    active = max(1, min(experts // ep, math.ceil(copies)))
    per_expert = max(1, math.ceil(copies / active))
    return DTYPES[r["moe_dtype"]], per_expert, active, hidden, inter // tp, copies


def predict(servesim, shapes, cost, tmp):
    src = os.path.join(tmp, "in.csv")
    out = os.path.join(tmp, "out.csv")
    with open(src, "w") as f:
        f.write("op,dtype,m,n,k,groups\n")
        for dt, m, g, hidden, i_rank, _ in shapes:
            f.write(f"gemm,{dt},{m},{2 * i_rank},{hidden},{g}\n")
            f.write(f"gemm,{dt},{m},{hidden},{i_rank},{g}\n")
    subprocess.run([servesim, "cost", "predict", "--hardware", "h200_sxm", "--cost", cost, "--in", src, "--out", out],
                   check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        times = [float(x["time_us"]) for x in csv.DictReader(f)]
    act = [3.0 * copies * i_rank * 2 / HBM_BANDWIDTH * 1e6 for _, _, _, _, i_rank, copies in shapes]
    return [times[2 * j] + times[2 * j + 1] + act[j] for j in range(len(shapes))]


def main():
    servesim = sys.argv[1]
    root = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/profiling"
    measured = list(rows(root))
    shapes = [layer(r) for r in measured]
    with tempfile.TemporaryDirectory() as tmp:
        pred = predict(servesim, shapes, "calibrated", tmp)
    groups, totals = {}, {}
    for j, r in enumerate(measured):
        e = pred[j] / (float(r["latency"]) * 1e3) - 1
        groups.setdefault((r["moe_dtype"], r["kernel_source"], int(r["num_tokens"])), []).append(e)
        totals.setdefault((r["moe_dtype"], r["kernel_source"]), []).append(e)
    print("| dtype | kernel | tokens | rows | MAPE | median error | predicted faster |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for (dt, kern, tokens), e in sorted(groups.items()) + [((dt, kern, "all"), e) for (dt, kern), e in sorted(totals.items())]:
        print(f"| {dt} | {kern} | {tokens} | {len(e)} | {statistics.mean(abs(x) for x in e):.1%} | {statistics.median(e):+.1%} | "
              f"{sum(x < 0 for x in e) / len(e):.0%} |")


if __name__ == "__main__":
    main()
