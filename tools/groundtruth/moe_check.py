#!/usr/bin/env python3
"""vLLM's fused-MoE layers on an H200 (AIConfigurator) against servesim, whole MoE shapes held out.

Data: `../shared/data/profiling/aiconfigurator/h200_sxm/moe_vllm_0.24.0_moe_perf.csv.gz`
(ai-dynamo/aiconfigurator, Apache-2.0): vLLM 0.24's fused MoE op (routing, the experts' gate_up
and down GEMMs, the activation, the weighted sum) timed on one H200 for many MoE shapes
(hidden, expert width, top-k, experts), 1-16,384 tokens, expert TP and EP shards, three
routing distributions and several weight formats. `servesim calibrate fit` reads the rows of
vLLM's default Hopper kernel per format (bf16 and block-scaled fp8: Triton; per-tensor fp8:
FlashInfer's CUTLASS MoE), balanced routing only, as the h200_sxm profile's `moe` family.

For each MoE shape (hidden, expert width, top-k, experts) in turn, every row of that shape
(every format, token count, TP and EP shard) is removed, a profile is fitted on the rest
(`calibrate fit --device h200_sxm --data <the rest> --holdout-modulus 0`), and the shape's rows
are predicted by `servesim cost predict` (`moe` rows) from that profile: the shape's layers
are then priced as a model never measured would be (the regression times its neighbours'
residuals). The roofline column prices the same layers as servesim did before the family:
the plan's grouped GEMMs and activation at the roofline.

Usage: moe_check.py SERVESIM [DATA_ROOT] > results.md
"""
import csv
import gzip
import os
import statistics
import subprocess
import sys
import tempfile

FILE = os.path.join("aiconfigurator", "h200_sxm", "moe_vllm_0.24.0_moe_perf.csv.gz")
KERNELS = {  # vLLM's default on Hopper per weight format (sim/calibrate/readers.cpp)
    "bfloat16": ("bf16", "vllm_unquantizedfusedmoe_triton_tritonexperts"),
    "fp8": ("fp8", "vllm_modeloptfp8moe_flashinfer_cutlass_flashinferexperts"),
    "fp8_block": ("fp8_block", "vllm_fp8moe_triton_tritonexperts"),
}
BUCKETS = [(1, 8), (16, 128), (160, 1024), (1536, 16384)]


def shape(r):
    return int(r["hidden_size"]), int(r["inter_size"]), int(r["topk"]), int(r["num_experts"])


def measured(r):
    k = KERNELS.get(r["moe_dtype"])
    return r["distribution"] == "balanced" and k is not None and r["kernel_source"] == k[1]


def predict(servesim, rows, cost, profile, tmp):
    src, out = os.path.join(tmp, "in.csv"), os.path.join(tmp, "out.csv")
    with open(src, "w") as f:
        f.write("op,dtype,m,n,k,topk,experts,ep\n")
        for r in rows:
            f.write(f"moe,{KERNELS[r['moe_dtype']][0]},{r['num_tokens']},{int(r['inter_size']) // int(r['moe_tp_size'])},"
                    f"{r['hidden_size']},{r['topk']},{r['num_experts']},{r['moe_ep_size']}\n")
    cmd = [servesim, "cost", "predict", "--hardware", "h200_sxm", "--cost", cost, "--in", src, "--out", out]
    if profile:
        cmd += ["--profile", profile]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return [(float(x["time_us"]), x["source"]) for x in csv.DictReader(f)]


def summary(errs):
    return (f"{len(errs)} | {statistics.mean(abs(e) for e in errs):.1%} | {statistics.median(errs):+.1%} | "
            f"{sum(e < 0 for e in errs) / len(errs):.0%}")


def main():
    servesim = sys.argv[1]
    root = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/profiling"
    with gzip.open(os.path.join(root, FILE), "rt") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames
        table = list(reader)
    rows = [r for r in table if measured(r)]
    shapes = sorted({shape(r) for r in rows})
    errs = {}  # (format, variant) -> [(tokens, error)]
    with tempfile.TemporaryDirectory() as tmp:
        for s in shapes:
            rest = os.path.join(tmp, "rest.csv")
            with open(rest, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=header)
                w.writeheader()
                w.writerows(r for r in table if shape(r) != s)
            profile = os.path.join(tmp, "p.json")
            subprocess.run([servesim, "calibrate", "fit", "--device", "h200_sxm", "--data", rest, "--holdout-modulus", "0",
                            "--out", profile], check=True, stdout=subprocess.DEVNULL)
            held = [r for r in rows if shape(r) == s]
            fitted = predict(servesim, held, "calibrated", profile, tmp)
            roof = predict(servesim, held, "roofline", None, tmp)
            for r, (us, source), (roof_us, _) in zip(held, fitted, roof):
                if ":moe" not in source:
                    sys.exit(f"row not answered by the MoE family: {r} -> {source}")
                meas = float(r["latency"]) * 1e3
                t = int(r["num_tokens"])
                errs.setdefault((r["moe_dtype"], "fit"), []).append((t, us / meas - 1))
                errs.setdefault((r["moe_dtype"], "roofline"), []).append((t, roof_us / meas - 1))
    print(f"{len(shapes)} MoE shapes held out one at a time; {len(rows)} rows (balanced routing, vLLM's Hopper kernels).\n")
    print("| format | kernel | tokens | rows | MoE family, shape held out: MAPE | median | faster | roofline (before): MAPE | median | faster |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for fmt in KERNELS:
        if (fmt, "fit") not in errs:
            continue
        for lo, hi in BUCKETS + [(1, 16384)]:
            fit = [e for t, e in errs[(fmt, "fit")] if lo <= t <= hi]
            roof = [e for t, e in errs[(fmt, "roofline")] if lo <= t <= hi]
            name = "all" if (lo, hi) == (1, 16384) else f"{lo}-{hi}"
            fs, rs = summary(fit).split(" | "), summary(roof).split(" | ")
            print(f"| {fmt} | {KERNELS[fmt][1]} | {name} | {fs[0]} | {fs[1]} | {fs[2]} | {fs[3]} | {rs[1]} | {rs[2]} | {rs[3]} |")


if __name__ == "__main__":
    main()
