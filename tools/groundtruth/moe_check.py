#!/usr/bin/env python3
"""vLLM's fused-MoE layers on an H200 (AIConfigurator) against servesim, whole MoE shapes held out.

Data: `../shared/data/profiling/aiconfigurator/h200_sxm/moe_vllm_0.24.0_moe_perf.csv.gz`
(ai-dynamo/aiconfigurator, Apache-2.0): vLLM 0.24's fused MoE op (routing, the experts' gate_up
and down GEMMs, the activation, the weighted sum) timed on one H200 for many MoE shapes
(hidden, expert width, top-k, experts), 1-16,384 tokens, expert TP and EP shards, three
routing distributions and several weight formats. `servesim calibrate fit` reads the rows of
vLLM's default Hopper kernel per format (bf16 and block-scaled fp8: Triton; per-tensor fp8:
FlashInfer's CUTLASS MoE; MXFP4: OpenAI's Triton kernels, gpt-oss's shapes only), balanced
routing only, as the h200_sxm profile's `moe` family.

For each MoE shape (hidden, expert width, top-k, experts) in turn, every row of that shape
(every format, token count, TP and EP shard) is removed, a profile is fitted on the rest
(`calibrate fit --device h200_sxm --data <the rest> --holdout-modulus 0`), and the shape's rows
are predicted by `servesim cost predict` (`moe` rows) from that profile: the shape's layers
are then priced as a model never measured would be (the regression times its neighbours'
residuals). The roofline column prices the same layers as servesim did before the family:
the plan's grouped GEMMs and activation at the roofline.

Skewed routing (never fitted): the table's `power_law_1.01` and `power_law_1.2` rows time the
layer on EP rank 0 after AIConfigurator's collector drew per-expert token counts from a
power law (per expert x ~ P(x) ∝ x^-alpha on [1, 0.8 x tokens], or [0.01, 2] when tokens x
top-k <= experts; scaled to tokens x top-k copies and rounded; the EP group with the most
copies moved to rank 0). The draw is random and its seed is not in the table, so each row is
predicted at the mean rank-0 copies and active experts over 16 draws of that rule (our own
implementation, numpy-free), through `cost predict`'s `copies` and `active` columns, by the
committed profile (which fitted balanced rows only); beside it, the balanced prediction that
ignores the skew.

Usage: moe_check.py SERVESIM [DATA_ROOT] > results.md
"""
import csv
import gzip
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile

FILE = os.path.join("aiconfigurator", "h200_sxm", "moe_vllm_0.24.0_moe_perf.csv.gz")
KERNELS = {  # vLLM's default on Hopper per weight format (sim/calibrate/readers.cpp)
    "bfloat16": ("bf16", "vllm_unquantizedfusedmoe_triton_tritonexperts"),
    "fp8": ("fp8", "vllm_modeloptfp8moe_flashinfer_cutlass_flashinferexperts"),
    "fp8_block": ("fp8_block", "vllm_fp8moe_triton_tritonexperts"),
    "w4a16_mxfp4": ("mxfp4", "vllm_gptossmxfp4moe_triton_oaitritonmxfp4expertsmonolithic"),
}
BUCKETS = [(1, 8), (16, 128), (160, 1024), (1536, 16384)]


def shape(r):
    return int(r["hidden_size"]), int(r["inter_size"]), int(r["topk"]), int(r["num_experts"])


def measured(r):
    k = KERNELS.get(r["moe_dtype"])
    return r["distribution"] == "balanced" and k is not None and r["kernel_source"] == k[1]


def rank0_load(tokens, experts, topk, ep, alpha, rng, heaviest=True):
    """(copies, active experts) on EP rank 0 after one draw of the collector's power-law rule;
    heaviest=False: rank 0 keeps its own experts (no move of the heaviest group)."""
    lo, hi = (1.0, tokens * 0.8) if tokens * topk > experts else (0.01, 2.0)
    x = [((hi ** (1 - alpha) - lo ** (1 - alpha)) * rng.random() + lo ** (1 - alpha)) ** (1 / (1 - alpha)) for _ in range(experts)]
    total = sum(x)
    counts = [round(v / total * tokens * topk) for v in x]
    delta = tokens * topk - sum(counts)
    order = sorted(range(experts), key=lambda e: -counts[e])
    for i in range(abs(delta)):
        if delta > 0:
            counts[order[i % experts]] += 1
        else:
            e = order[-(i % experts) - 1]
            if counts[e] > 0:
                counts[e] -= 1
            else:
                counts[max(range(experts), key=lambda j: counts[j])] -= 1
    size = experts // ep
    # A token routes to an expert at most once: a count beyond the tokens is a duplicate in
    # the collector's assignment, which torch.topk turns into another (zero-logit) expert.
    counts = [min(c, tokens) for c in counts]
    groups = [counts[g * size:(g + 1) * size] for g in range(ep)]
    heavy = max(range(ep), key=lambda g: (sum(groups[g]), -g)) if heaviest else 0
    return sum(groups[heavy]), sum(1 for c in groups[heavy] if c > 0)


def predict(servesim, rows, cost, profile, tmp, loads=None):
    src, out = os.path.join(tmp, "in.csv"), os.path.join(tmp, "out.csv")
    with open(src, "w") as f:
        f.write("op,dtype,m,n,k,topk,experts,ep,copies,active\n")
        for j, r in enumerate(rows):
            extra = f"{loads[j][0]:.3f},{loads[j][1]}" if loads else ","
            f.write(f"moe,{KERNELS[r['moe_dtype']][0]},{r['num_tokens']},{int(r['inter_size']) // int(r['moe_tp_size'])},"
                    f"{r['hidden_size']},{r['topk']},{r['num_experts']},{r['moe_ep_size']},{extra}\n")
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
    skewed(servesim, table)


def skewed(servesim, table):
    rows = [r for r in table if r["distribution"].startswith("power_law") and KERNELS.get(r["moe_dtype"], ("", ""))[1] == r["kernel_source"]]
    rng = random.Random(20261207)
    loads = []
    for r in rows:
        t, e, k, ep = int(r["num_tokens"]), int(r["num_experts"]), int(r["topk"]), int(r["moe_ep_size"])
        alpha = float(r["distribution"].split("_")[-1])
        draws = [rank0_load(t, e, k, ep, alpha, rng) for _ in range(16)]
        copies = max(1.0, sum(d[0] for d in draws) / len(draws))
        active = max(1, min(e // ep, math.ceil(copies), round(sum(d[1] for d in draws) / len(draws))))
        loads.append((copies, active))
    with tempfile.TemporaryDirectory() as tmp:
        drawn = predict(servesim, rows, "calibrated", None, tmp, loads)
        even = predict(servesim, rows, "calibrated", None, tmp)
    errs = {}
    for r, (us, _), (even_us, _) in zip(rows, drawn, even):
        meas = float(r["latency"]) * 1e3
        ep = "EP 1" if r["moe_ep_size"] == "1" else "EP > 1"
        key = (r["moe_dtype"], r["distribution"], ep)
        errs.setdefault(key, ([], []))
        errs[key][0].append(us / meas - 1)
        errs[key][1].append(even_us / meas - 1)
    print(f"\nSkewed routing, never fitted: {len(rows)} power-law rows, predicted by the committed h200_sxm profile.\n")
    print("| format | routing | EP | rows | rank 0's copies and active experts: MAPE | median | balanced layer instead: MAPE | median |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for (fmt, dist, ep), (d, b) in sorted(errs.items()):
        ds, bs = summary(d).split(" | "), summary(b).split(" | ")
        print(f"| {fmt} | {dist} | {ep} | {ds[0]} | {ds[1]} | {ds[2]} | {bs[1]} | {bs[2]} |")


if __name__ == "__main__":
    main()
