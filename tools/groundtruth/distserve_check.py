#!/usr/bin/env python3
"""Predict DistServe's A100 step-time profiles of vLLM and of DistServe and report the error.

Two other serving stacks, on models servesim never measured (OPT-13B and OPT-66B: MHA, a
non-gated ReLU MLP), from `../shared/data/serving/distserve/` (LLMServe/DistServe, OSDI'24,
Apache-2.0): `profiler-a100-80g.vllm.json` (vLLM as DistServe ran it) and
`profiler-a100-80g.distserve.json` (DistServe's own engine, SwiftTransformer), one A100-80GB
node, TP 1-8. They are DistServe's fits of its profiling runs, not the runs themselves
(the runs are not published). Its profiler (evaluation/0-test-single-forward-performance of
LLMServe/DistServe) ran B identical requests of L prompt and 16 output tokens at once, on a
grid of B = 1 ... 192 and L = 4 ... 2,020 within a token limit per (model, TP): the prefill
time is the batch's one step (mean of 3 rounds), the decode time the median of the 15
decode steps after it. Its fit (evaluation/1-fit-time-usage), in milliseconds:
  prefill step = a + b * B * L + c * B * L^2
  decode step  = a + b * B * L + c * B      (one set up to 95 sequences, another above)
So each row's "measured" value is that fit at a grid point (a subset of the grid here).

Each row is replayed with servesim (`servesim run --timeline`): B prompts of L tokens and
16 output tokens arriving together, vLLM's v0 scheduler (prefills and decodes in separate
steps, as both engines ran them) with a budget of max(2,048, B x L) tokens and at most B
sequences; the prefill step of B x L tokens and the median decode-only step of B sequences.
Variants: calibrated (the default cost model: the A100 SXM4 80GB profile, Vidur's PyTorch
kernels, no host time beyond the default engine step), roofline. Nothing was fitted on
these rows.

Usage: distserve_check.py SERVESIM [DATA_ROOT] > results.md
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from sarathi_check import step_time

ENGINES = {"vllm": "profiler-a100-80g.vllm.json", "distserve": "profiler-a100-80g.distserve.json"}
MODELS = {"facebook/opt-13b": "opt-13b", "facebook/opt-66b": "opt-66b"}
VARIANTS = {"calibrated": [], "roofline": ["--set", "cost.impl=roofline"]}
# DistServe's profiling grid (evaluation/0-test-single-forward-performance/main.py): every
# batch size x input length whose batch x (length rounded up to 16) stays within the token
# limit of its (model, TP); output 16 tokens; the prefill time is the whole batch's one step
# (mean of 3), the decode time the median step of the 15 that follow. A subset of it here.
BATCHES = [1, 4, 16, 64, 128, 192]
LENGTHS = [128, 512, 1024, 2020]
TOKEN_LIMIT = {("opt-13b", 1): 49152, ("opt-13b", 2): 98304, ("opt-13b", 4): 250000,
               ("opt-66b", 2): 8192, ("opt-66b", 3): 36864, ("opt-66b", 4): 65000}
# OPT-66B at TP 8 is in both files but not in that grid (its TP-8 entry is OPT-175B's):
# OPT-66B TP 4's limit is used, the smaller one.
TOKEN_LIMIT[("opt-66b", 8)] = TOKEN_LIMIT[("opt-66b", 4)]


def vllm_v0(budget, seqs):
    return ["--set", 'scheduler={"impl":"vllm_v0","max_num_batched_tokens":%d,"max_num_seqs":%d}' % (budget, seqs)]


def fitted_ms(coef, kind, bsz, length):
    # The fit's own regressors (evaluation/1-fit-time-usage/main.py): batch x length and
    # batch x length^2 for prefill; batch x length and batch for decode.
    if kind == "prefill":
        a, b, c = coef["prefill"]
        return a + b * bsz * length + c * bsz * length * length
    a, b, c = coef["decoding_smallbs" if bsz <= coef["decoding_large_small_bs_threshold"] else "decoding_largebs"]
    return a + b * bsz * length + c * bsz


def burst(tmp, n, prompt, output):
    """n requests of `prompt` and `output` tokens, all arriving at time 0 (a Vidur trace)."""
    path = os.path.join(tmp, "burst.csv")
    with open(path, "w") as f:
        f.write("arrived_at,num_prefill_tokens,num_decode_tokens\n")
        f.writelines(f"0,{prompt},{output}\n" for _ in range(n))
    return ["--set", 'workload={"impl":"vidur_csv","path":"%s"}' % path]


def predict(servesim, model, tp, bsz, length, variant, tmp):
    """servesim's (prefill step, median decode step) in seconds for B prompts of L tokens and
    16 output tokens arriving together: one prefill step of B x L tokens (vLLM's v0
    scheduler, budget max(2048, B x L), at most B sequences), then decode-only steps of B."""
    out = os.path.join(tmp, "o")
    cmd = [servesim, "run", "--quiet", "--timeline", "--out", out, "--set", "model=" + model,
           "--set", "hardware=a100_sxm4_80gb", "--set", "parallel.tp=%d" % tp,
           "--set", "engine.max_model_len=2048"] + burst(tmp, bsz, length, 16) + vllm_v0(max(2048, bsz * length), bsz) + VARIANTS[variant]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "timeline.json")) as f:
        timeline = json.load(f)
    shutil.rmtree(out)
    return step_time(timeline, ("prefill", bsz * length)), step_time(timeline, ("decode", bsz))


def main():
    servesim = sys.argv[1]
    root = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/serving/distserve"
    profiles = {}
    for engine, fname in ENGINES.items():
        with open(os.path.join(root, fname)) as f:
            profiles[engine] = json.load(f)
    configs = sorted({(MODELS[m], int(tp)) for p in profiles.values() for m in p for tp in p[m]})
    table = []  # (engine, label, kind, fit seconds, {variant: predicted seconds})
    with tempfile.TemporaryDirectory() as tmp:
        for model, tp in configs:
            hf_name = next(k for k, v in MODELS.items() if v == model)
            for bsz in BATCHES:
                for length in LENGTHS:
                    if bsz * ((length + 15) // 16 * 16) > TOKEN_LIMIT[(model, tp)]:
                        continue
                    pred = {v: predict(servesim, model, tp, bsz, length, v, tmp) for v in VARIANTS}
                    for i, kind in enumerate(("prefill", "decode")):
                        label = f"{model} TP{tp} {kind} {bsz} x {length}"
                        if any(pred[v][i] is None for v in VARIANTS):
                            print(f"no step of the profiled kind in servesim's run (KV too small?): {label}", file=sys.stderr)
                            continue
                        for engine, prof in profiles.items():
                            if str(tp) in prof.get(hf_name, {}):
                                fit = fitted_ms(prof[hf_name][str(tp)], kind, bsz, length) / 1e3
                                table.append((engine, label, kind, fit, {v: pred[v][i] for v in VARIANTS}))
    print("| engine | row | fit (ms) | " + " | ".join(f"{v} (ms, error)" for v in VARIANTS) + " |")
    print("| --- | --- | ---: | " + " | ".join("---:" for _ in VARIANTS) + " |")
    for engine, label, _, meas, pred in table:
        cells = [f"{pred[v] * 1e3:.1f} ({pred[v] / meas - 1:+.1%})" for v in VARIANTS]
        print(f"| {engine} | {label} | {meas * 1e3:.1f} | " + " | ".join(cells) + " |")
    print()
    print("| engine | variant | rows | MAPE | median error | predicted faster |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for engine in ENGINES:
        for v in VARIANTS:
            for kind in ("prefill", "decode"):
                summary_row(table, f"| {engine} | {v} | {kind}", lambda en, label, k: en == engine and k == kind, v)
    print()
    print("By model and TP, calibrated:")
    print()
    print("| engine | variant | rows | MAPE | median error | predicted faster |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for engine in ENGINES:
        for model, tp in configs:
            for kind in ("prefill", "decode"):
                tag = f"{model} TP{tp} {kind} "
                summary_row(table, f"| {engine} | calibrated | {tag.strip()}", lambda en, label, k: en == engine and label.startswith(tag), "calibrated")


def summary_row(table, head, keep, v):
    e = [pred[v] / meas - 1 for en, label, k, meas, pred in table if keep(en, label, k)]
    if e:
        print(f"{head} ({len(e)}) | {statistics.mean(abs(x) for x in e):.1%} | {statistics.median(e):+.1%} | "
              f"{sum(x < 0 for x in e) / len(e):.0%} |")


if __name__ == "__main__":
    main()
