#!/usr/bin/env python3
"""Whole-group hold-outs of the kernel fits: what a model, head shape or GPU count never
measured is predicted at (calibration/FITTING.md: "GEMMs between sparse lines", "Head
configurations never measured", "Rank counts between measured ones").

Each check removes one whole group from the measured tables (filtered copies in a temporary
folder; the tables in ../shared/data stay as they are), fits a profile on the rest with
`servesim calibrate fit --holdout-modulus 0`, and scores the removed rows:
  gemm       one model of Vidur's `mlp.csv` tables at a time (A100: five models; H100's
             PyTorch set: four), `calibrate check --data <that model>`;
  attention  one head shape at a time of AIConfigurator's H100 vLLM FA3 tables (its bf16-KV
             rows scored) and one KV head count of the H200 harness's tables;
  collective every 4-GPU row of AIConfigurator's H100 and H200 NCCL tables (fp16 messages)
             and of Vidur's A100 DGX all-reduce (its rows within one node, as the fit reads
             them), predicted from 2 and 8 GPUs with
             `cost predict --profile` (a held-out count the profile cannot answer goes to the
             roofline, which `calibrate check` does not score).

Usage: holdout_checks.py SERVESIM [gemm|attention|collective ...] > results.md
       (data from ../shared/data/profiling and calibration/data/h200; a few minutes)
"""
import csv
import gzip
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PROFILING = os.path.join(ROOT, "..", "shared", "data", "profiling")


def run(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw).stdout


def check_rows(servesim, device, profile, data, family_prefix):
    """The `calibrate check --data` table rows of one family prefix: (family, shapes, MAPE, median)."""
    out = run(servesim, "calibrate", "check", "--device", device, "--profile", profile, "--data", data, "--markdown")
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 6 and cells[1].startswith(family_prefix):
            rows.append((cells[1], cells[3], cells[4], cells[6]))
    return rows


def fit(servesim, device, data, out, kernel_set=None):
    args = [servesim, "calibrate", "fit", "--device", device, "--holdout-modulus", "0", "--out", out, "--data"] + data
    if kernel_set:
        args += ["--kernel-set", kernel_set]
    run(*args)


def write_table(path, header, rows):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def read_table(path):
    """(comment lines, header, rows) of a CSV, gzipped or not; comment lines start with #."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        lines = f.read().splitlines()
    comments = [l for l in lines if l.startswith("#")]
    body = list(csv.reader(l for l in lines if not l.startswith("#")))
    return comments, body[0], body[1:]


def split(path, keep, tmp, name):
    """Filtered copies of one table: rows keep() accepts under tmp/train, the others under tmp/test."""
    comments, header, rows = read_table(path)
    for sub, rs in (("train", [r for r in rows if keep(header, r)]), ("test", [r for r in rows if not keep(header, r)])):
        os.makedirs(os.path.join(tmp, sub), exist_ok=True)
        target = os.path.join(tmp, sub, name)
        if comments:
            with open(target, "w", newline="") as f:
                f.write("\n".join(comments) + "\n")
                csv.writer(f).writerows([header] + rs)
        else:
            write_table(target, header, rs)


def gemm_checks(servesim):
    print("## GEMMs: one model held out\n")
    print("| device | held-out model | shapes | MAPE | median error |")
    print("| --- | --- | ---: | ---: | ---: |")
    for device, tables, net, kernel_set in (("a100_sxm4_80gb", "compute/a100", "network/a100_dgx", None),
                                            ("h100_sxm", "compute/h100", "network/h100_dgx", "pytorch")):
        base = os.path.join(PROFILING, "vidur", tables)
        models = sorted(os.path.join(org, m) for org in os.listdir(base) if org != "legacy"
                        for m in os.listdir(os.path.join(base, org)))
        for held in models:
            with tempfile.TemporaryDirectory() as tmp:
                data = [os.path.join(base, m) for m in models if m != held] + [os.path.join(PROFILING, "vidur", net)]
                profile = os.path.join(tmp, "p.json")
                fit(servesim, device, data, profile, kernel_set)
                for fam, shapes, mape, median in check_rows(servesim, device, profile, os.path.join(base, held), "gemm"):
                    print(f"| {device} | {os.path.basename(held)} | {shapes} | {mape} | {median} |")
    print()


def attention_checks(servesim):
    print("## Attention: one head shape held out\n")
    print("| device | held-out shape (q / KV heads, head dim) | family | rows | MAPE | median error |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    aic = os.path.join(PROFILING, "aiconfigurator", "h100_sxm")
    files = ["attention_vllm_0.24.0_context_attention_perf.csv.gz", "attention_vllm_0.24.0_generation_attention_perf.csv.gz"]
    shapes = [("32", "8", "128"), ("40", "8", "128"), ("64", "8", "128"), ("16", "16", "128"), ("8", "1", "128"),
              ("32", "32", "128"), ("64", "64", "128"), ("64", "4", "64"), ("48", "8", "64"), ("16", "2", "256"),
              ("12", "2", "256")]
    for shape in shapes:
        def keep(h, r, shape=shape):
            return (r[h.index("num_heads")], r[h.index("num_key_value_heads")], r[h.index("head_dim")]) != shape
        with tempfile.TemporaryDirectory() as tmp:
            for name in files:
                split(os.path.join(aic, name), keep, tmp, name)
            # score the held-out shape's bf16-KV rows only
            for name in files:
                _, header, rows = read_table(os.path.join(tmp, "test", name))
                write_table(os.path.join(tmp, "test", name), header,
                            [r for r in rows if r[header.index("kv_cache_dtype")] == "bfloat16"])
            profile = os.path.join(tmp, "p.json")
            fit(servesim, "h100_sxm", [os.path.join(tmp, "train")], profile)
            for fam, n, mape, median in check_rows(servesim, "h100_sxm", profile, os.path.join(tmp, "test"), "attention"):
                print(f"| h100_sxm (vLLM FA3) | {' / '.join(shape[:2])}, {shape[2]} | {fam} | {n} | {mape} | {median} |")
    harness = os.path.join(ROOT, "calibration", "data", "h200")
    names = ["attention_prefill.csv", "attention_prefill_cudnn.csv", "attention_decode.csv"]
    for kv in ("8", "4", "2", "1"):
        with tempfile.TemporaryDirectory() as tmp:
            for name in names:
                split(os.path.join(harness, name), lambda h, r, kv=kv: r[h.index("kv_heads")] != kv, tmp, name)
            profile = os.path.join(tmp, "p.json")
            fit(servesim, "h200_sxm", [os.path.join(tmp, "train")], profile)
            for fam, n, mape, median in check_rows(servesim, "h200_sxm", profile, os.path.join(tmp, "test"), "attention"):
                print(f"| h200_sxm (harness) | 32 / {kv}, 128 | {fam} | {n} | {mape} | {median} |")
    print()


def collective_checks(servesim):
    print("## Collectives: every 4-GPU row held out\n")
    print("| device | op | rows | MAPE | median error | answered by |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    nccl = "comm_nccl_2.29.2_nccl_perf.csv.gz"
    cases = [("h100_sxm", os.path.join(PROFILING, "aiconfigurator", "h100_sxm", nccl), "num_gpus"),
             ("h200_sxm", os.path.join(PROFILING, "aiconfigurator", "h200_sxm", nccl), "num_gpus"),
             ("a100_sxm4_80gb", os.path.join(PROFILING, "vidur", "network", "a100_dgx", "all_reduce.csv"), "num_workers")]
    for device, path, col in cases:
        with tempfile.TemporaryDirectory() as tmp:
            name = os.path.basename(path)
            split(path, lambda h, r: r[h.index(col)] != "4", tmp, name)
            profile = os.path.join(tmp, "p.json")
            fit(servesim, device, [os.path.join(tmp, "train")], profile)
            _, header, rows = read_table(os.path.join(tmp, "test", name))
            shapes = []  # (op, bytes, measured us)
            for r in rows:
                x = dict(zip(header, r))
                if "message_size" in x:
                    if x["nccl_dtype"] != "half":
                        continue
                    op = {"alltoall": "all_to_all"}.get(x["op_name"], x["op_name"])
                    shapes.append((op, int(x["message_size"]) * 2, float(x["latency"]) * 1e3))
                elif int(x["devices_per_node"]) >= int(x["num_workers"]):  # intra-node rows, as the fit reads
                    shapes.append(("all_reduce", int(x["size"]), float(x["time_stats.all_reduce.median"]) * 1e3))
            src, out = os.path.join(tmp, "in.csv"), os.path.join(tmp, "out.csv")
            write_table(src, ["op", "ranks", "bytes"], [(op, 4, b) for op, b, _ in shapes])
            run(servesim, "cost", "predict", "--hardware", device, "--profile", profile, "--in", src, "--out", out)
            with open(out) as f:
                pred = list(csv.DictReader(f))
            for op in sorted({s[0] for s in shapes}):
                e = [float(p["time_us"]) / s[2] - 1 for s, p in zip(shapes, pred) if s[0] == op]
                by = sorted({p["source"].split(":")[0] for s, p in zip(shapes, pred) if s[0] == op})
                print(f"| {device} | {op} | {len(e)} | {statistics.mean(abs(x) for x in e):.1%} | "
                      f"{statistics.median(e):+.1%} | {', '.join(by)} |")
    print()


def main():
    servesim = os.path.abspath(sys.argv[1])
    which = sys.argv[2:] or ["gemm", "attention", "collective"]
    checks = {"gemm": gemm_checks, "attention": attention_checks, "collective": collective_checks}
    for w in which:
        if w not in checks:
            sys.exit(f"unknown check '{w}': expected gemm, attention or collective")
        checks[w](servesim)


if __name__ == "__main__":
    main()
