#!/usr/bin/env python3
"""Per-case KV capacity: vLLM's reported figure (vllm_reported.csv) against `servesim plan memory`.

Usage: compare.py SERVESIM [--data-dir DIR] [--markdown] [--legacy]
Prints one row per case: vLLM's KV tokens, servesim's (blocks x block size), and the error
(servesim - vLLM) / vLLM. Cases with in_check=0 are listed but left out of the summary.
Each case runs with the sampler_buffers of its vLLM version (servesim_sampler_buffers);
--legacy leaves that option out, for a servesim built before it existed.
"""
import csv
import json
import os
import subprocess
import sys


def plan(servesim, data_dir, r, legacy):
    cmd = [servesim, "plan", "memory", "--json", "--model", r["model"], "--hardware", r["hardware"],
           "--tp", r["tp"], "--pp", r["pp"], "--dtype", r["dtype"], "--kv-dtype", r["kv_dtype"],
           "--gpu-memory-utilization", r["gpu_memory_utilization"],
           "--max-num-batched-tokens", r["max_num_batched_tokens"], "--max-num-seqs", r["max_num_seqs"],
           "--block-size", r["block_size"], "--context", r["block_size"]]
    if not legacy:
        cmd += ["--sampler-buffers", r["servesim_sampler_buffers"]]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    servesim, data_dir, markdown, legacy = args[0], None, "--markdown" in args, "--legacy" in args
    if "--data-dir" in args:
        data_dir = args[args.index("--data-dir") + 1]
    here = os.path.dirname(os.path.abspath(__file__))
    rows = list(csv.DictReader(open(os.path.join(here, "vllm_reported.csv"))))
    errs = []
    if markdown:
        print("| case | vLLM | model x GPU x TP | vLLM KV tokens | servesim | error |")
        print("| --- | --- | --- | ---: | ---: | ---: |")
    for r in rows:
        j = plan(servesim, data_dir, r, legacy)
        ours = j["kv"]["block_tokens"]
        theirs = int(r["vllm_kv_tokens"])
        err = (ours - theirs) / theirs
        mark = "" if r["in_check"] == "1" else " (not checked)"
        if r["in_check"] == "1":
            errs.append(err)
        what = f'{r["hf_model"].split("/")[-1]} x {r["hardware"]} x TP{r["tp"]}'
        if markdown:
            print(f'| {r["case"]}{mark} | {r["vllm_version"]} | {what} | {theirs:,} | {ours:,} | {100 * err:+.1f} % |')
        else:
            print(f'{r["case"]:28s} {theirs:>10d} {ours:>10d} {100 * err:+7.2f} %{mark}')
    mae = sum(abs(e) for e in errs) / len(errs)
    worst = max(abs(e) for e in errs)
    print(f"\n{len(errs)} checked cases: mean |error| {100 * mae:.2f} %, max |error| {100 * worst:.2f} %")


if __name__ == "__main__":
    main()
