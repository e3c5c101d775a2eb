#!/usr/bin/env python3
"""Predict the prefill batches Sarathi-Serve measured (OSDI'24 artifact) and report the error.

Another serving stack on a device servesim never measured: Sarathi-Serve (a vLLM fork, eager
PyTorch, Ray workers) running Yi-34B at TP 2 on two A100 80GB PCIe GPUs bridged by NVLink
(Azure NC96ads v4), from `../shared/data/serving/sarathi_osdi/`:
  figure-2/prefill.csv          one prompt of 128 ... 16,384 tokens in one step;
  figure-9/chunking-overhead.csv one prompt of 2,047 ... 16,383 tokens cut into chunks of
                                512, 1,024, 2,048 tokens (16,384: not cut); the time is the
                                sum of the prompt's steps;
  table-2/results.csv           its prefill-only specimen (1,024 tokens). Left out: its
                                decode-only and hybrid specimens and figure-2's decode
                                batches, whose contexts the artifact does not publish.
Each row is one request arriving alone (nothing queued before it), so the request's time to
first token in servesim is the prompt's steps, what the artifact timed.

Nothing here was fitted on these rows. Variants, each a `servesim run` per row:
  derived   hardware a100_pcie_80gb, the calibrated model: its profile is derived from the
            measured A100 SXM4 80GB profile (Vidur's PyTorch kernels);
  sxm       hardware a100_sxm4_80gb with its measured profile (the derivation's source);
  roofline  hardware a100_pcie_80gb, cost.impl roofline (what that device had before it had
            a derived profile).

Usage: sarathi_check.py SERVESIM [DATA_ROOT] > results.md
"""
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile

VARIANTS = {
    "derived": ["--set", "hardware=a100_pcie_80gb"],
    "sxm": ["--set", "hardware=a100_sxm4_80gb"],
    "roofline": ["--set", "hardware=a100_pcie_80gb", "--set", "cost.impl=roofline"],
}


def rows(root):
    """(label, prompt tokens, chunk tokens or 0, measured seconds)"""
    out = []
    with open(os.path.join(root, "figure-2", "prefill.csv")) as f:
        for r in csv.DictReader(f):
            n = int(float(r["batch_num_prefill_tokens"]))
            out.append((f"fig2 prefill {n}", n, 0, float(r["batch_execution_time"])))
    with open(os.path.join(root, "figure-9", "chunking-overhead.csv")) as f:
        for r in csv.DictReader(f):
            n, c = int(r["prefill_length"]), int(r["chunk_size"])
            out.append((f"fig9 prefill {n} chunk {c}", n, c if c < n else 0, float(r["prefill_execution_time"]) / 1e3))
    with open(os.path.join(root, "table-2", "results.csv")) as f:
        for r in csv.DictReader(f):
            p, d = int(float(r["batch_num_prefill_tokens"])), int(float(r["batch_num_decode_tokens"]))
            if p == 0 or d > 0:
                continue  # decode tokens of unknown context
            out.append((f"table2 prefill {p}", p, 0, float(r["batch_execution_time"]) / 1e3))
    return out


def predict(servesim, variant, prompt, chunk, tmp):
    args = [servesim, "run", "--quiet", "--out", os.path.join(tmp, "o"), "--set", "model=Yi-34B", "--set", "parallel.tp=2",
            "--set", "engine.max_model_len=16400", "--set", "workload.num_requests=1",
            "--set", 'workload.prompt={"dist":"fixed","value":%d}' % prompt, "--set", 'workload.output={"dist":"fixed","value":1}']
    if chunk:
        args += ["--set", 'scheduler={"impl":"sarathi","token_budget":%d,"max_num_seqs":128}' % chunk]
    else:
        args += ["--set", "scheduler.max_num_batched_tokens=16400"]
    args += VARIANTS[variant]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(tmp, "o", "summary.json")) as f:
        s = json.load(f)
    subprocess.run(["rm", "-rf", os.path.join(tmp, "o")], check=True)
    return s["ttft_s"]["p50"]


def main():
    servesim = sys.argv[1]
    root = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/serving/sarathi_osdi"
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, p, c, meas in rows(root):
            pred = {v: predict(servesim, v, p, c, tmp) for v in VARIANTS}
            table.append((label, meas, pred))
    print("| row | measured (ms) | " + " | ".join(f"{v} (ms, error)" for v in VARIANTS) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in VARIANTS) + " |")
    for label, meas, pred in table:
        cells = [f"{pred[v] * 1e3:.1f} ({pred[v] / meas - 1:+.1%})" for v in VARIANTS]
        print(f"| {label} | {meas * 1e3:.1f} | " + " | ".join(cells) + " |")
    print()
    print("| variant | rows | MAPE | median error | predicted faster |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for v in VARIANTS:
        e = [pred[v] / meas - 1 for _, meas, pred in table]
        print(f"| {v} | {len(e)} | {statistics.mean(abs(x) for x in e):.1%} | {statistics.median(e):+.1%} | "
              f"{sum(x < 0 for x in e) / len(e):.0%} |")


if __name__ == "__main__":
    main()
