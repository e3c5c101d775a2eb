#!/usr/bin/env python3
"""Predict the batches Sarathi-Serve measured (OSDI'24 artifact) and report the error.

Another serving stack on a device servesim never measured: Sarathi-Serve (a vLLM fork, eager
PyTorch, Ray workers) running Yi-34B-200K (Yi-34B's architecture) at TP 2 on two A100 80GB
PCIe GPUs bridged by NVLink (Azure NC96ads v4), from `../shared/data/serving/sarathi_osdi/`.
Each experiment is replayed with the settings of its run script in the artifact
(osdi-experiments/<figure>/*.sh of microsoft/sarathi-serve):
  figure-2/prefill.csv           one prompt of 128 ... 16,384 tokens in one step (batch size 1);
  figure-2/decode.csv            decode-only steps of B = 1 ... 128 sequences: 2B requests of
                                 1,024 tokens (1,020 prompt, 4 output), vLLM's scheduler with a
                                 1,024-token budget and at most B running, so the decode steps
                                 run B sequences at contexts of 1,020-1,023;
  figure-9/chunking-overhead.csv one prompt of 2,047 ... 16,383 tokens cut into chunks of 512,
                                 1,024, 2,048 tokens (16,384: not cut), the prompt's steps summed;
  table-2/results.csv            8 requests of 1,024 prompt and 16 output tokens, at most 4
                                 running: a 1,024-token prefill and a decode step of 4 (vLLM's
                                 scheduler), and a step of 1,021 prompt tokens with 3 decodes
                                 (Sarathi's, chunk 1,024).
Predicted step times come from the run's timeline (`servesim run --timeline`): the median
duration of the steps of the measured kind (decode-only with B sequences; prefill-only; the
hybrid step), or the request's prompt steps summed for the prefill rows.

Nothing here was fitted on these rows. Variants:
  derived   hardware a100_pcie_80gb, the calibrated model: its profile is derived from the
            measured A100 SXM4 80GB profile (Vidur's PyTorch kernels);
  sxm       hardware a100_sxm4_80gb with its measured profile (the derivation's source);
  roofline  hardware a100_pcie_80gb, cost.impl roofline (what that device had before it had
            a derived profile);
  eager     derived, with engine.launch {cuda_graphs: off} at its default per-kernel launch
            time (Sarathi-Serve launches every kernel from Python; nothing tuned).

Usage: sarathi_check.py SERVESIM [DATA_ROOT] > results.md
"""
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

VARIANTS = {
    "derived": ["--set", "hardware=a100_pcie_80gb"],
    "sxm": ["--set", "hardware=a100_sxm4_80gb"],
    "roofline": ["--set", "hardware=a100_pcie_80gb", "--set", "cost.impl=roofline"],
    "eager": ["--set", "hardware=a100_pcie_80gb", "--set", 'engine.launch={"cuda_graphs":"off"}'],
}


def vllm(budget, seqs):
    return ["--set", 'scheduler={"impl":"vllm_v0","max_num_batched_tokens":%d,"max_num_seqs":%d}' % (budget, seqs)]


def sarathi(chunk, seqs):
    return ["--set", 'scheduler={"impl":"sarathi","token_budget":%d,"max_num_seqs":%d}' % (chunk, seqs)]


def workload(n, prompt, output):
    return ["--set", "workload.num_requests=%d" % n, "--set", "workload.rate=1e9",
            "--set", 'workload.prompt={"dist":"fixed","value":%d}' % prompt,
            "--set", 'workload.output={"dist":"fixed","value":%d}' % output]


def rows(root):
    """(label, servesim arguments, which steps to time, measured seconds)

    `which`: ("prompt",) the first request's prompt steps summed; ("decode", B) the median
    decode-only step of B sequences; ("prefill", P) the median prefill-only step of P tokens;
    ("hybrid", P, D) the median step of P prompt tokens beside D decodes."""
    out = []
    with open(os.path.join(root, "figure-2", "prefill.csv")) as f:
        for r in csv.DictReader(f):
            n = int(float(r["batch_num_prefill_tokens"]))
            out.append((f"fig2 prefill {n}", workload(1, n, 1) + vllm(16385, 1), ("prompt",), float(r["batch_execution_time"])))
    with open(os.path.join(root, "figure-2", "decode.csv")) as f:
        for r in csv.DictReader(f):
            b = int(float(r["batch_size"]))
            out.append((f"fig2 decode batch {b}", workload(2 * b, 1020, 4) + vllm(1024, b), ("decode", b), float(r["batch_execution_time"])))
    with open(os.path.join(root, "figure-9", "chunking-overhead.csv")) as f:
        for r in csv.DictReader(f):
            n, c = int(r["prefill_length"]), int(r["chunk_size"])
            out.append((f"fig9 prefill {n} chunk {c}", workload(1, n, 1) + sarathi(c, 1), ("prompt",), float(r["prefill_execution_time"]) / 1e3))
    with open(os.path.join(root, "table-2", "results.csv")) as f:
        for r in csv.DictReader(f):
            p, d = int(float(r["batch_num_prefill_tokens"])), int(float(r["batch_num_decode_tokens"]))
            meas = float(r["batch_execution_time"]) / 1e3
            if p == 0:
                out.append((f"table2 decode batch {d}", workload(8, 1024, 16) + vllm(1040, 4), ("decode", d), meas))
            elif d == 0:
                out.append((f"table2 prefill {p}", workload(8, 1024, 16) + vllm(1040, 4), ("prefill", p), meas))
            else:
                out.append((f"table2 {p} prefill + {d} decode", workload(8, 1024, 16) + sarathi(1024, 4), ("hybrid", p, d), meas))
    return out


def step_time(timeline, which):
    steps = [e for e in timeline["traceEvents"] if e.get("ph") == "X" and "seqs" in e.get("args", {})]
    a = lambda e: e["args"]
    if which[0] == "prompt":
        # One request: its prompt's steps are every step with prompt tokens.
        return sum(e["dur"] for e in steps if a(e)["prefill_tokens"] > 0) / 1e6
    if which[0] == "decode":
        pick = [e for e in steps if a(e)["prefill_tokens"] == 0 and a(e)["seqs"] == which[1]]
    elif which[0] == "prefill":
        pick = [e for e in steps if a(e)["seqs"] == a(e)["prefill_seqs"] and a(e)["prefill_tokens"] == which[1]]
    else:
        pick = [e for e in steps if a(e)["prefill_tokens"] == which[1] and a(e)["seqs"] - a(e)["prefill_seqs"] == which[2]]
    return statistics.median(e["dur"] for e in pick) / 1e6 if pick else None


def predict(servesim, variant, args, which, tmp):
    out = os.path.join(tmp, "o")
    cmd = [servesim, "run", "--quiet", "--timeline", "--out", out, "--set", "model=Yi-34B", "--set", "parallel.tp=2",
           "--set", "engine.max_model_len=16400"] + args + VARIANTS[variant]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "timeline.json")) as f:
        t = step_time(json.load(f), which)
    shutil.rmtree(out)
    return t


def main():
    servesim = sys.argv[1]
    root = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/serving/sarathi_osdi"
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, args, which, meas in rows(root):
            pred = {v: predict(servesim, v, args, which, tmp) for v in VARIANTS}
            if any(x is None for x in pred.values()):
                print(f"no step of the measured kind in servesim's run: {label}", file=sys.stderr)
                continue
            table.append((label, meas, pred))
    print("| row | measured (ms) | " + " | ".join(f"{v} (ms, error)" for v in VARIANTS) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in VARIANTS) + " |")
    for label, meas, pred in table:
        cells = [f"{pred[v] * 1e3:.1f} ({pred[v] / meas - 1:+.1%})" for v in VARIANTS]
        print(f"| {label} | {meas * 1e3:.1f} | " + " | ".join(cells) + " |")
    groups = [("all rows", lambda l: True), ("prefill rows", lambda l: "decode" not in l),
              ("decode-only rows", lambda l: "decode batch" in l)]
    print()
    print("| variant | rows | MAPE | median error | predicted faster |")
    print("| --- | --- | ---: | ---: | ---: |")
    for v in VARIANTS:
        for name, keep in groups:
            e = [pred[v] / meas - 1 for label, meas, pred in table if keep(label)]
            if e:
                print(f"| {v} | {name} ({len(e)}) | {statistics.mean(abs(x) for x in e):.1%} | {statistics.median(e):+.1%} | "
                      f"{sum(x < 0 for x in e) / len(e):.0%} |")


if __name__ == "__main__":
    main()
