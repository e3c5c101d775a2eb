"""servesim from Python, notebook style: a what-if, a sweep and a CI-style comparison.

Run from the repository root after building (docs/python.md):
    PYTHONPATH=build/release/sim/python /usr/bin/python3 docs/examples/python_what_if.py
Each block below is one notebook cell.
"""
import os
import tempfile

import numpy as np

import servesim

# %% 1. One run of the embedded default scenario (Llama-3.1-8B on one H100 at 5.5 req/s),
# shortened to 1,000 requests. `summary` is summary.json as a dict.
base = servesim.run(set=["workload.num_requests=1000"], seed=42)
s = base.summary
print(f"{s['requests']['completed']} requests: TTFT p99 {s['ttft_s']['p99'] * 1e3:.0f} ms, "
      f"TPOT p99 {s['tpot_s']['p99'] * 1e3:.1f} ms, {s['throughput']['output_tokens_per_s']:.0f} output tokens/s")

# %% 2. Per-request columns are numpy arrays (the raw fields are views of the simulator's
# records, no copy): TTFT by prompt length, in quartiles of the prompt length.
req = base.requests
done = ~req["rejected"]
prompt, ttft_ms = req["prompt_tokens"][done], req["ttft_s"][done] * 1e3
edges = np.quantile(prompt, [0, 0.25, 0.5, 0.75, 1.0])
for lo, hi in zip(edges[:-1], edges[1:]):
    sel = (prompt >= lo) & (prompt <= hi)
    print(f"prompt {lo:6.0f}-{hi:6.0f} tokens: TTFT p50 {np.percentile(ttft_ms[sel], 50):6.1f} ms, "
          f"p99 {np.percentile(ttft_ms[sel], 99):6.1f} ms ({sel.sum()} requests)")
try:
    print(base.requests_frame().describe().T[["mean", "50%"]].head())  # with pandas installed
except ImportError as e:
    print(f"(no pandas: {e})")

# %% 3. What if the batch were capped at 16 sequences? Same traffic (same seed).
capped = servesim.run(set=["workload.num_requests=1000", "scheduler.max_num_seqs=16"], seed=42)
for name, r in (("256 seqs", base), ("16 seqs", capped)):
    t = r.summary
    print(f"{name:>9}: TTFT p99 {t['ttft_s']['p99'] * 1e3:8.1f} ms, TPOT p99 {t['tpot_s']['p99'] * 1e3:5.1f} ms, "
          f"queueing p99 {t['queueing_s']['p99'] * 1e3:8.1f} ms")

# %% 4. A sweep: request rate x batch limit, on every core. The table is points.csv's.
table = servesim.sweep({
    "name": "rate-by-batch-limit",
    "base": "docs/sweep/example_base.json",   # relative to the working folder for a dict
    "set": {"workload.num_requests": 300},
    "axes": [{"grid": {"workload.rate": [4, 8, 16], "scheduler.max_num_seqs": [32, 256]}}],
})
c = table.columns
for i in range(len(c["index"])):
    print(f"rate {c['workload.rate'][i]:>4}, max_num_seqs {c['scheduler.max_num_seqs'][i]:>3}: "
          f"TTFT p99 {c['ttft_p99_s'][i] * 1e3:8.1f} ms, {c['output_tokens_per_s'][i]:7.0f} tokens/s")

# %% 5. The CI gate: compare two run folders with a threshold, as `servesim compare` does.
with tempfile.TemporaryDirectory() as tmp:
    base.write(os.path.join(tmp, "base"))
    capped.write(os.path.join(tmp, "capped"))
    verdict = servesim.compare(os.path.join(tmp, "base"), os.path.join(tmp, "capped"), thresholds=["ttft.p99=+10%"])
print("regression" if verdict["regression"] else "no regression", "-", verdict["verdicts"][0]["line"])

# %% 6. Bad input raises ValueError with the CLI's one-line message.
try:
    servesim.run(set=["scheduler.max_num_seqs=0"])
except ValueError as e:
    print("ValueError:", e)
