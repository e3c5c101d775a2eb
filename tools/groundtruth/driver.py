#!/usr/bin/env python3
"""Ground-truth driver: runs the Hugging Face transformers continuous-batching engine on a GPU
with random weights and records per-request and per-engine-step timings.

One process builds one model (random bf16 weights, shape from a Hugging Face config.json) and
one continuous-batching manager, then runs, in order:
  1. an optional forward sweep (--sweep): synthetic batches pushed through the engine's own
     input preparation and model runner, timing CPU preparation, CPU launch, GPU span and the
     GPU time alone (a GPU sleep kernel queued first hides the launch gaps);
  2. a short warm-up (--warmup-requests, not recorded);
  3. each --run: 'offline' (all requests submitted at t=0) or 'online' (arrival offsets from
     the workload file divided by the target rate).
The file formats are documented in calibration/data/groundtruth/README.md.

Run spec: --run name=NAME,mode=offline|online,workload=PATH,n=N,role=calibration|validation,
                seed=S[,rate=R][,first=K]
(rate in requests/s, online only; first = index of the first workload row used, default 0).
"""
import argparse
import csv
import datetime as dt
import gc
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import traceback
from time import perf_counter

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

try:
    from transformers.generation.configuration_utils import ContinuousBatchingConfig
except ImportError:  # older layouts
    ContinuousBatchingConfig = None


def log(*a) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


# ----------------------------------------------------------------------------------------------
# Step recorder: wraps the batch processor's per-step methods (instance attributes, so the
# engine's own loop calls the wrappers).
# ----------------------------------------------------------------------------------------------
class StepRecorder:
    def __init__(self, bp) -> None:
        self.bp = bp
        self.active = False
        self.t0 = 0.0
        self.steps: list[dict] = []
        self.token_times: dict[str, list[float]] = {}
        self.first_sched: dict[str, float] = {}
        self.events: list[dict] = []  # preemptions, stalls
        self.input_len: dict[str, int] = {}
        self._cur = None
        self._sched_acc = 0.0
        self._lock = threading.Lock()
        self.stream = bp.inputs_and_outputs.compute_stream
        self._install()

    def reset(self, t0: float, input_len: dict[str, int]) -> None:
        with self._lock:
            self.t0 = t0
            self.steps = []
            self.token_times = {}
            self.first_sched = {}
            self.events = []
            self.input_len = dict(input_len)
            self._cur = None

    def _install(self) -> None:
        bp = self.bp
        io = bp.inputs_and_outputs
        orig_prepare = bp.prepare_next_batch
        orig_step = bp._generation_step
        orig_update = bp.update_batch
        orig_sched = bp.scheduler.schedule_batch
        orig_retrieve = io.retrieve_device_outputs
        orig_pbu = io.prepare_batch_update
        om = getattr(bp, "offloading_manager", None)
        orig_offload = getattr(om, "offload_requests", None) if om is not None else None
        rec = self

        def schedule_batch(*a, **k):
            t = perf_counter()
            try:
                return orig_sched(*a, **k)
            finally:
                rec._sched_acc += perf_counter() - t

        def prepare_next_batch(*a, **k):
            rec._sched_acc = 0.0
            t_a = perf_counter()
            ret = orig_prepare(*a, **k)
            t_b = perf_counter()
            if not rec.active:
                return ret
            if not ret:
                sch = bp.scheduler
                if sch.active_requests or sch.waiting_requests:
                    rec.events.append({"type": "empty_batch", "t_s": t_a - rec.t0,
                                       "active": len(sch.active_requests),
                                       "waiting": len(sch.waiting_requests)})
                rec._cur = None
                return ret
            comp = []
            for fs in io.requests_in_batch:
                st = fs.state
                q = int(fs.query_length)
                ctx = int(st.position_offset) - q  # prepare_batch_tensors advanced position_offset by q
                comp.append((str(st.request_id), q, ctx, bool(fs.has_new_token)))
            rec._cur = {"start": t_a, "prep": t_b - t_a, "sched": rec._sched_acc, "comp": comp,
                        "waiting_after": len(bp.scheduler.waiting_requests),
                        "free_blocks": bp.cache.get_num_free_blocks()}
            return ret

        def _generation_step(*a, **k):
            cur = rec._cur if rec.active else None
            if cur is not None:
                ev0 = torch.cuda.Event(enable_timing=True)
                ev0.record(rec.stream)
                cur["ev0"] = ev0
                cur["t_launch0"] = perf_counter()
            return orig_step(*a, **k)

        def retrieve_device_outputs(*a, **k):
            cur = rec._cur if rec.active else None
            if cur is not None and "t_launch0" in cur:
                ev1 = torch.cuda.Event(enable_timing=True)
                ev1.record(rec.stream)
                cur["ev1"] = ev1
                cur["t_launch1"] = perf_counter()
            return orig_retrieve(*a, **k)

        def prepare_batch_update(*a, **k):
            cur = rec._cur if rec.active else None
            t = perf_counter()
            ret = orig_pbu(*a, **k)  # .tolist() on the output ids: waits for the GPU
            if cur is not None:
                cur["t_pbu0"] = t
                cur["t_sync"] = perf_counter()
            return ret

        def update_batch(*a, **k):
            cur = rec._cur if rec.active else None
            t_u0 = perf_counter()
            ret = orig_update(*a, **k)
            t_end = perf_counter()
            if cur is not None and "t_sync" in cur:
                rec._finish_step(cur, t_u0, t_end)
            rec._cur = None
            return ret

        def offload_requests(*a, **k):
            before = set(bp.scheduler.active_requests.keys())
            t = perf_counter()
            n = orig_offload(*a, **k)
            if rec.active and n:
                after = set(bp.scheduler.active_requests.keys())
                rec.events.append({"type": "preemption", "t_s": t - rec.t0, "num_evicted": int(n),
                                   "evicted": sorted(before - after), "duration_s": perf_counter() - t})
            return n

        bp.scheduler.schedule_batch = schedule_batch
        bp.prepare_next_batch = prepare_next_batch
        bp._generation_step = _generation_step
        bp.update_batch = update_batch
        io.retrieve_device_outputs = retrieve_device_outputs
        io.prepare_batch_update = prepare_batch_update
        if orig_offload is not None:
            om.offload_requests = offload_requests

    def _finish_step(self, cur: dict, t_u0: float, t_end: float) -> None:
        t0 = self.t0
        gpu_s = float("nan")
        if "ev0" in cur and "ev1" in cur:
            try:
                cur["ev1"].synchronize()
                gpu_s = cur["ev0"].elapsed_time(cur["ev1"]) / 1e3
            except Exception:
                pass
        launch_s = cur.get("t_launch1", t_u0) - cur.get("t_launch0", t_u0)
        # host time blocked on the GPU: the stream sync in retrieve_device_outputs plus the .tolist()
        wait_s = (t_u0 - cur.get("t_launch1", t_u0)) + (cur["t_sync"] - cur["t_pbu0"])
        post_s = t_end - cur["t_sync"]
        duration = t_end - cur["start"]
        prefill = decode = kv = 0
        parts = []
        for rid, q, ctx, new in cur["comp"]:
            plen = self.input_len.get(rid, 0)
            if q > 1 or ctx < plen:
                prefill += q
            else:
                decode += q
            kv += ctx + q
            parts.append(f"{rid}:{q}:{ctx}")
            if rid not in self.first_sched:
                self.first_sched[rid] = cur["start"] - t0
            if new:
                self.token_times.setdefault(rid, []).append(cur["t_sync"] - t0)
        self.steps.append({
            "step": len(self.steps), "start_s": cur["start"] - t0, "duration_s": duration,
            "prep_s": cur["prep"], "sched_s": cur["sched"], "launch_s": launch_s, "wait_s": wait_s,
            "post_s": post_s, "cpu_s": duration - wait_s, "gpu_s": gpu_s,
            "num_requests": len(cur["comp"]), "prefill_tokens": prefill, "decode_tokens": decode,
            "kv_tokens": kv, "new_tokens": sum(1 for c in cur["comp"] if c[3]),
            "waiting": cur["waiting_after"], "free_blocks": cur["free_blocks"],
            "gpu_mem_allocated_bytes": torch.cuda.memory_allocated(),
            "composition": ";".join(parts),
        })


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def read_workload(path: str, first: int, n: int) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    rows = rows[first : first + n]
    if len(rows) < n:
        raise ValueError(f"{path}: only {len(rows)} rows from {first}, {n} asked")
    return [{"arrival_norm_s": float(r["arrival_norm_s"]), "input_tokens": int(r["input_tokens"]),
             "output_tokens": int(r["output_tokens"])} for r in rows]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(x for x in xs if x == x)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def jsonable(x):
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, torch.dtype):
        return str(x)
    if hasattr(x, "to_dict"):
        try:
            return jsonable(x.to_dict())
        except Exception:
            pass
    if hasattr(x, "__dict__"):
        return {k: jsonable(v) for k, v in vars(x).items() if not k.startswith("_")}
    return repr(x)


def system_info() -> dict:
    info = {"python": sys.version.split()[0], "torch": torch.__version__,
            "transformers": transformers.__version__, "cuda_runtime": torch.version.cuda,
            "gpu_name": torch.cuda.get_device_name(0), "hostname": platform.node(),
            "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "cudnn": torch.backends.cudnn.version()}
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,memory.total,clocks.max.sm,"
                            "power.limit,clocks.sm,clocks.mem", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20).stdout.strip()
        info["nvidia_smi"] = q
        info["driver"] = q.split(",")[0].strip()
    except Exception as e:
        info["nvidia_smi"] = f"failed: {e}"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        info["cpu_count"] = os.cpu_count()
    except Exception:
        pass
    try:
        props = torch.cuda.get_device_properties(0)
        info["gpu_sm_count"] = props.multi_processor_count
        info["gpu_total_memory_bytes"] = props.total_memory
    except Exception:
        pass
    info["sdpa_backends_enabled"] = {
        "flash": torch.backends.cuda.flash_sdp_enabled(),
        "mem_efficient": torch.backends.cuda.mem_efficient_sdp_enabled(),
        "math": torch.backends.cuda.math_sdp_enabled(),
        "cudnn": getattr(torch.backends.cuda, "cudnn_sdp_enabled", lambda: None)(),
    }
    return info


def host_probe() -> dict:
    """Speed of this machine's host side, recorded so a profile fitted on one instance can be
    carried to another: a fixed pure-Python workload (list building and a dict update, the
    kind of work prepare_next_batch does) and the host cost of launching a tiny CUDA kernel
    from PyTorch eager mode. Median of 5 repeats each."""
    import statistics
    def py_work() -> float:
        t = perf_counter()
        d = {}
        xs = []
        for i in range(200000):
            xs.append(i * 3 + 1)
            d[i & 1023] = i
        sum(xs)
        return (perf_counter() - t) / 200000
    def launch_work() -> float:
        x = torch.zeros(1, device="cuda")
        torch.cuda.synchronize()
        t = perf_counter()
        for _ in range(2000):
            x.add_(1.0)
        host = (perf_counter() - t) / 2000
        torch.cuda.synchronize()
        return host
    py_work(); launch_work()
    py = statistics.median(py_work() for _ in range(5))
    la = statistics.median(launch_work() for _ in range(5))
    return {"python_loop_s_per_iter": py, "torch_launch_s_per_kernel": la,
            "method": "median of 5: 200k iterations of list append + dict store (python); 2000 x.add_(1) on a "
                      "1-element CUDA tensor, host time until the loop returns (launch)"}


def engine_info(mgr, model) -> dict:
    bp = mgr.batch_processor
    cache = bp.cache
    sch = bp.scheduler
    mr = bp.model_runner
    return {
        "attn_implementation": model.config._attn_implementation,
        "continuous_batching_config": jsonable(mgr.continuous_batching_config),
        "block_size": cache.block_size,
        "num_blocks": cache.num_blocks,
        "num_kv_token_slots": cache.num_blocks * cache.block_size,
        "max_batch_tokens": cache.max_batch_tokens,
        "max_blocks_per_request": getattr(cache, "max_blocks_per_request", None),
        "use_prefix_sharing": getattr(cache, "use_prefix_sharing", None),
        "scheduler_class": type(sch).__name__,
        "scheduler_safety_margin": getattr(sch, "safety_margin", None),
        "max_requests_per_batch": getattr(sch, "max_requests_per_batch", None),
        "use_async_batching": getattr(bp, "use_async_batching", None),
        "cuda_graphs_varlen_decode": [getattr(mr, "use_cuda_graph_varlen", None),
                                      getattr(mr, "use_cuda_graph_decode", None)],
        "pad_inputs": getattr(mr, "pad_inputs", None),
        "attention_mask_materialized": bp.inputs_and_outputs.attention_mask is not None,
        "do_sample": getattr(bp, "do_sample", None),
        "dtype": str(model.dtype),
        "kv_cache_bytes": int(sum(t.numel() * t.element_size() for t in cache.key_cache)
                              + sum(t.numel() * t.element_size() for t in cache.value_cache)),
        "gpu_mem_allocated_after_setup_bytes": torch.cuda.memory_allocated(),
        "gpu_mem_reserved_after_setup_bytes": torch.cuda.memory_reserved(),
    }


# ----------------------------------------------------------------------------------------------
# Forward sweep through the engine's own preparation and model runner
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def forward_sweep(mgr, model, out_path: str, quick: bool, reps: int = 3, kv_cap: int = 262144) -> None:
    from transformers.generation.continuous_batching.requests import RequestStatus
    from transformers.generation.continuous_batching.utils import create_warmup_future_states

    bp = mgr.batch_processor
    io, cache, mr = bp.inputs_and_outputs, bp.cache, bp.model_runner
    cs = io.compute_stream
    # GPU clock for the sleep kernel: cycles per second
    torch.cuda.synchronize()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    e0.record()
    torch.cuda._sleep(20_000_000)
    e1.record()
    torch.cuda.synchronize()
    cycles_per_s = 20_000_000 / (e0.elapsed_time(e1) / 1e3)
    log(f"sleep kernel: {cycles_per_s / 1e9:.3f} Gcycles/s")

    configs = []  # (kind, [(status, num, q, ctx)])
    D, P = RequestStatus.DECODING, RequestStatus.PREFILLING
    bs_list = [1, 4, 16] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256]
    ctx_list = [256] if quick else [128, 1024, 3072]
    for ctx in ctx_list:
        for b in bs_list:
            if b * ctx <= kv_cap:
                configs.append(("decode", [(D, b, 1, ctx)]))
    for q in ([64, 512] if quick else [16, 64, 256, 512, 1024, 2048, 4096, 8192]):
        configs.append(("prefill", [(P, 1, q, 0)]))
    if not quick:
        configs.append(("prefill", [(P, 8, 1024, 0)]))
        configs.append(("prefill", [(P, 4, 512, 0)]))
        configs.append(("prefill_chunk", [(P, 1, 2048, 2048)]))
        configs.append(("prefill_chunk", [(P, 1, 1024, 3072)]))
        for pq in (512, 2048):
            for b in (16, 64):
                configs.append(("mixed", [(P, 1, pq, 0), (D, b, 1, 1024)]))
    reps = 2 if quick else reps
    rows = []
    for kind, groups in configs:
        fss, ok = [], True
        for status, num, q, ctx in groups:
            got = create_warmup_future_states(num, status, q, ctx, cache)
            fss.extend(got)
            if len(got) < num:
                ok = False
        if not ok:
            log(f"sweep {kind} {groups}: allocation failed, skipped")
            for fs in fss:
                cache.free_blocks(fs.state.request_id)
            continue
        spec = [(fs.state, fs.query_length, fs.state.position_offset) for fs in fss]
        q_tot = sum(q for _, q, _ in spec)
        kv_read = sum(c for _, _, c in spec)

        def reset_states():
            for st, q, ctx in spec:
                st.position_offset = ctx
                st.tokens_to_process = [0] * q

        def one(sleep_cycles: int):
            reset_states()
            torch.cuda.synchronize()
            t0 = perf_counter()
            io.prepare_batch_tensors(requests_in_batch=fss, logits_processors=bp.logit_processor,
                                     use_decode_fast_path=False, num_q_tokens=q_tot,
                                     max_kv_read=kv_read, use_padding=False)
            kwargs = io.get_model_kwargs(use_padding=False)
            t1 = perf_counter()
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            with torch.cuda.stream(cs):
                if sleep_cycles:
                    torch.cuda._sleep(sleep_cycles)
                a.record(cs)
            t2 = perf_counter()
            mr.compute_batch(model, kwargs)
            with torch.cuda.stream(cs):
                b.record(cs)
            t3 = perf_counter()
            cs.synchronize()
            io.prepare_batch_update()
            t4 = perf_counter()
            b.synchronize()
            return {"prep_s": t1 - t0, "launch_s": t3 - t2, "wait_s": t4 - t3, "total_s": t4 - t0,
                    "gpu_s": a.elapsed_time(b) / 1e3}

        try:
            first = one(0)  # first call of this shape (includes any per-shape setup, e.g. a cuDNN graph build)
            nat = [one(0) for _ in range(reps)]
            launch = statistics.median(r["launch_s"] for r in nat)
            sleep_s = 2.0 * launch + 0.003
            slp = [one(int(sleep_s * cycles_per_s)) for _ in range(reps)]
            row = {"kind": kind,
                   "groups": "+".join(f"{g[1]}x(q{g[2]},ctx{g[3]})" for g in groups),
                   "num_requests": len(fss), "q_tokens": q_tot, "kv_read_tokens": kv_read,
                   "kv_tokens": kv_read + q_tot,
                   "prep_s": statistics.median(r["prep_s"] for r in nat),
                   "launch_s": launch,
                   "wait_s": statistics.median(r["wait_s"] for r in nat),
                   "total_s": statistics.median(r["total_s"] for r in nat),
                   "gpu_span_s": statistics.median(r["gpu_s"] for r in nat),
                   "gpu_only_s": statistics.median(r["gpu_s"] for r in slp),
                   "first_total_s": first["total_s"], "first_launch_s": first["launch_s"],
                   "sleep_s": sleep_s,
                   "sleep_covered_launch": all(r["launch_s"] < sleep_s for r in slp),
                   "reps": reps}
            rows.append(row)
            log(f"sweep {row['groups']}: total {row['total_s']*1e3:.2f} ms, launch {launch*1e3:.2f}, "
                f"gpu_span {row['gpu_span_s']*1e3:.2f}, gpu_only {row['gpu_only_s']*1e3:.2f}, "
                f"prep {row['prep_s']*1e3:.2f}")
        except torch.cuda.OutOfMemoryError as e:
            log(f"sweep {groups}: OOM {e}")
            torch.cuda.empty_cache()
        except Exception:
            log(f"sweep {groups}: failed\n{traceback.format_exc()}")
        finally:
            for fs in fss:
                cache.free_blocks(fs.state.request_id)
    with open(out_path, "w", newline="") as f:
        if rows:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            for r in rows:
                w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
    io._reset_static_tensors(full_reset=True)
    io.requests_in_batch = []


# ----------------------------------------------------------------------------------------------
# Which SDPA backend the engine's attention call gets, and what a new shape costs
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def sdpa_probe(out_path: str, heads: int, kv_heads: int, head_dim: int) -> dict:
    """Calls scaled_dot_product_attention the way paged|sdpa does (packed batch, additive bf16
    mask sliced from a larger buffer, GQA already expanded) for a few shapes, first with the
    backends as configured now, then with each backend forced alone. Records host time of the
    first call of each new shape and of a repeat, and the CUDA kernel names seen."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    dev = "cuda"
    res = {"backends_enabled": {"flash": torch.backends.cuda.flash_sdp_enabled(),
                                "mem_efficient": torch.backends.cuda.mem_efficient_sdp_enabled(),
                                "math": torch.backends.cuda.math_sdp_enabled(),
                                "cudnn": torch.backends.cuda.cudnn_sdp_enabled()},
           "cases": []}
    buf = torch.zeros(1, 1, 64, 20000, dtype=torch.bfloat16, device=dev)

    def call(lq, lk):
        q = torch.randn(1, heads, lq, head_dim, dtype=torch.bfloat16, device=dev)
        k = torch.randn(1, heads, lk, head_dim, dtype=torch.bfloat16, device=dev)
        v = torch.randn(1, heads, lk, head_dim, dtype=torch.bfloat16, device=dev)
        m = buf[..., :lq, :lk]
        torch.cuda.synchronize()
        t = perf_counter()
        F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=False)
        torch.cuda.synchronize()
        t1 = perf_counter()
        F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=False)
        torch.cuda.synchronize()
        return t1 - t, perf_counter() - t1

    modes = [("as_configured", None), ("cudnn_only", [SDPBackend.CUDNN_ATTENTION]),
             ("efficient_only", [SDPBackend.EFFICIENT_ATTENTION]), ("math_only", [SDPBackend.MATH])]
    shapes = [(8, 1000), (8, 1003), (16, 2011), (64, 9001), (9, 1000)]
    for mode, backends in modes:
        for lq, lk in shapes:
            try:
                if backends is None:
                    first, rep = call(lq, lk)
                else:
                    with sdpa_kernel(backends):
                        first, rep = call(lq, lk)
                res["cases"].append({"mode": mode, "lq": lq, "lk": lk, "first_call_s": first, "repeat_s": rep})
            except Exception as e:
                res["cases"].append({"mode": mode, "lq": lq, "lk": lk, "error": str(e)[:300]})
    try:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            call(12, 1234)
        names = sorted({e.name for e in prof.events() if e.device_type.name == "CUDA"})
        res["kernels_as_configured"] = names[:40]
    except Exception as e:
        res["kernels_as_configured"] = f"profiler failed: {e}"
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
    for c in res["cases"]:
        log("sdpa probe", c)
    log("sdpa kernels as configured:", res.get("kernels_as_configured"))
    return res


# ----------------------------------------------------------------------------------------------
# One measured run
# ----------------------------------------------------------------------------------------------
def drain(mgr, results: dict, timeout: float) -> None:
    r = mgr.get_result(timeout=timeout)
    while r is not None:
        if r.is_finished():
            results[r.request_id] = r
        r = mgr.get_result(timeout=0)


def do_run(mgr, rec: StepRecorder, vocab: int, spec: dict, out_dir: str, base_meta: dict,
           max_run_s: float) -> dict:
    import random
    name = spec["name"]
    mode = spec["mode"]
    n = int(spec["n"])
    seed = int(spec["seed"])
    rate = float(spec.get("rate", 0) or 0)
    wl = read_workload(spec["workload"], int(spec.get("first", 0)), n)
    max_out = int(spec.get("max_out", 0) or 0)
    if max_out > 0:
        for w in wl:
            w["output_tokens"] = min(w["output_tokens"], max_out)
    rng = random.Random(seed)
    rids = [f"{i}" for i in range(n)]
    prompts = [[rng.randrange(1000, vocab - 1000) for _ in range(w["input_tokens"])] for w in wl]
    if mode == "online":
        if rate <= 0:
            raise ValueError("online run needs rate > 0")
        sched = [w["arrival_norm_s"] / rate for w in wl]
    else:
        sched = [0.0] * n
    input_len = {rid: w["input_tokens"] for rid, w in zip(rids, wl)}
    results: dict = {}
    arrivals: dict[str, float] = {}
    gc.collect()
    gc.disable()  # keep Python's collector out of the measured window
    t0 = perf_counter()
    rec.reset(t0, input_len)
    rec.active = True
    i = 0
    timed_out = False
    engine_died = False
    torch.cuda.reset_peak_memory_stats()
    try:
        while len(results) < n:
            now = perf_counter() - t0
            if now > max_run_s:
                timed_out = True
                break
            if not mgr.is_running():
                engine_died = True
                log(f"run {name}: the engine thread is not running any more")
                break
            if i < n and now >= sched[i]:
                ta = perf_counter()
                mgr.add_request(prompts[i], request_id=rids[i], max_new_tokens=wl[i]["output_tokens"],
                                record_timestamps=True, eos_token_id=-1)
                arrivals[rids[i]] = ta - t0
                i += 1
                continue
            wait = (sched[i] - now) if i < n else 0.5
            drain(mgr, results, max(0.0, min(wait, 0.5)))
    finally:
        t_end = perf_counter() - t0
        rec.active = False
        gc.enable()
    if timed_out and mgr.is_running():
        log(f"run {name}: stopped at {max_run_s}s with {len(results)}/{n} finished; waiting for the rest")
        tw = perf_counter()
        while len(results) < i and perf_counter() - tw < 20 and mgr.is_running():
            drain(mgr, results, 0.5)
    os.makedirs(out_dir, exist_ok=True)
    # requests.csv and tokens.csv.gz
    req_rows, ttft, tpot, e2e, qdelay = [], [], [], [], []
    n_wrong = 0
    with gzip.open(os.path.join(out_dir, "tokens.csv.gz"), "wt", newline="") as ftok:
        wt = csv.writer(ftok)
        wt.writerow(["request_id", "index", "time_s"])
        for k, rid in enumerate(rids):
            if rid not in arrivals:
                continue
            tt = rec.token_times.get(rid, [])
            for j, t in enumerate(tt):
                wt.writerow([rid, j, f"{t:.6f}"])
            r = results.get(rid)
            status = r.status.name if r is not None else "UNFINISHED"
            out_len = len(r.generated_tokens) if r is not None else len(tt)
            if out_len != wl[k]["output_tokens"] or len(tt) != wl[k]["output_tokens"]:
                n_wrong += 1
            arr = arrivals[rid]
            first = tt[0] if tt else float("nan")
            fin = tt[-1] if tt else float("nan")
            eng_fin = (r.lifespan[1] - t0) if (r is not None and r.lifespan[1] > 0) else float("nan")
            nprem = sum(1 for e in rec.events if e["type"] == "preemption" and rid in e.get("evicted", []))
            req_rows.append([rid, f"{sched[k]:.6f}", f"{arr:.6f}", wl[k]["input_tokens"],
                             wl[k]["output_tokens"], out_len, f"{rec.first_sched.get(rid, float('nan')):.6f}",
                             f"{first:.6f}", f"{fin:.6f}", f"{eng_fin:.6f}", nprem, status])
            if tt:
                ttft.append(first - arr)
                e2e.append(fin - arr)
                qdelay.append(rec.first_sched.get(rid, float("nan")) - arr)
                if len(tt) > 1:
                    tpot.append((fin - first) / (len(tt) - 1))
    with open(os.path.join(out_dir, "requests.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["request_id", "scheduled_arrival_s", "arrival_s", "input_tokens", "output_tokens",
                    "output_tokens_observed", "first_scheduled_s", "first_token_s", "finish_s",
                    "engine_finish_s", "preemptions", "status"])
        w.writerows(req_rows)
    steps = rec.steps
    with open(os.path.join(out_dir, "steps.csv"), "w", newline="") as f:
        if steps:
            w = csv.DictWriter(f, fieldnames=list(steps[0].keys()))
            w.writeheader()
            for s in steps:
                w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in s.items()})
    if rec.events:
        with open(os.path.join(out_dir, "events.json"), "w") as f:
            json.dump(rec.events, f, indent=0)
    # summary
    dec = [s for s in steps if s["prefill_tokens"] == 0]
    by_bs: dict[int, list] = {}
    for s in dec:
        by_bs.setdefault(s["num_requests"], []).append(s)
    dec_table = {}
    for bsz in sorted(by_bs):
        ss = by_bs[bsz]
        if len(ss) >= 5:
            dec_table[str(bsz)] = {"n": len(ss), "duration_ms_p50": 1e3 * pct([s["duration_s"] for s in ss], 50),
                                   "cpu_ms_p50": 1e3 * pct([s["cpu_s"] for s in ss], 50),
                                   "gpu_ms_p50": 1e3 * pct([s["gpu_s"] for s in ss], 50),
                                   "kv_tokens_p50": pct([s["kv_tokens"] for s in ss], 50)}
    tot_out = sum(len(v) for v in rec.token_times.values())
    makespan = max((s["start_s"] + s["duration_s"] for s in steps), default=float("nan"))
    busy = sum(s["duration_s"] for s in steps)
    summary = {
        "requests_submitted": i, "requests_finished": len(results), "requests_wrong_length": n_wrong,
        "timed_out": timed_out, "engine_died": engine_died, "submit_loop_end_s": t_end,
        "gpu_peak_memory_allocated_bytes": torch.cuda.max_memory_allocated(), "makespan_s": makespan,
        "num_steps": len(steps), "engine_busy_fraction": busy / makespan if makespan == makespan and makespan > 0 else None,
        "output_tokens": tot_out, "output_tokens_per_s": tot_out / makespan if makespan else None,
        "ttft_s": {"p50": pct(ttft, 50), "p90": pct(ttft, 90), "p99": pct(ttft, 99), "mean": statistics.fmean(ttft) if ttft else None},
        "tpot_s": {"p50": pct(tpot, 50), "p90": pct(tpot, 90), "p99": pct(tpot, 99), "mean": statistics.fmean(tpot) if tpot else None},
        "e2e_s": {"p50": pct(e2e, 50), "p90": pct(e2e, 90), "p99": pct(e2e, 99)},
        "queue_delay_s": {"p50": pct(qdelay, 50), "p90": pct(qdelay, 90)},
        "step_s": {"p50": pct([s["duration_s"] for s in steps], 50), "mean": statistics.fmean([s["duration_s"] for s in steps]) if steps else None},
        "cpu_share_of_step_time": (sum(s["cpu_s"] for s in steps) / busy) if busy else None,
        "decode_only_steps_by_batch_size": dec_table,
        "preemption_events": sum(1 for e in rec.events if e["type"] == "preemption"),
        "empty_batch_events": sum(1 for e in rec.events if e["type"] == "empty_batch"),
    }
    meta = dict(base_meta)
    meta["run"] = {"name": name, "role": spec.get("role", "unspecified"), "mode": mode,
                   "rate_req_per_s": rate if mode == "online" else None, "seed": seed,
                   "num_requests": n, "workload_file": spec["workload"], "workload_first_row": int(spec.get("first", 0)),
                   "output_tokens_clipped_to": max_out or None,
                   "prompt_tokens": "uniform random ids in [1000, vocab-1000) from Python random.Random(seed)",
                   "eos": "disabled (eos_token_id=-1); every request generates exactly output_tokens",
                   "sampling": "greedy (do_sample=False)"}
    meta["summary"] = summary
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(jsonable(meta), f, indent=1)
    log(f"run {name}: {len(results)}/{n} finished, makespan {makespan:.2f}s, steps {len(steps)}, "
        f"TTFT p50 {summary['ttft_s']['p50']*1e3:.1f} ms, TPOT p50 {summary['tpot_s']['p50']*1e3:.2f} ms, "
        f"wrong lengths {n_wrong}, preemptions {summary['preemption_events']}")
    return summary


# ----------------------------------------------------------------------------------------------
def build_model(config_path: str, overrides: dict):
    with open(config_path) as f:
        d = json.load(f)
    model_type = d.pop("model_type")
    for k in ("architectures", "transformers_version", "torch_dtype", "_name_or_path"):
        d.pop(k, None)
    d.update(overrides)
    cfg = AutoConfig.for_model(model_type, **d)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16, attn_implementation="sdpa")
    model.eval()
    return model, cfg


def parse_run(s: str) -> dict:
    d = {}
    for part in s.split(","):
        k, v = part.split("=", 1)
        d[k.strip()] = v.strip()
    for key in ("name", "mode", "workload", "n", "seed"):
        if key not in d:
            raise ValueError(f"--run {s!r}: missing {key}")
    if d["mode"] not in ("offline", "online"):
        raise ValueError(f"--run {s!r}: mode must be offline or online")
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-config", required=True, help="Hugging Face config.json (architecture only)")
    ap.add_argument("--model-name", required=True)
    ap.add_argument("--override", action="append", default=[], help="config override key=json_value")
    ap.add_argument("--out", required=True, help="folder that receives one sub-folder per run")
    ap.add_argument("--run", action="append", default=[], help="run spec, see the module doc")
    ap.add_argument("--sweep", action="store_true", help="forward sweep before the runs")
    ap.add_argument("--quick-sweep", action="store_true")
    ap.add_argument("--sweep-reps", type=int, default=3)
    ap.add_argument("--sweep-kv-cap", type=int, default=262144, help="skip decode sweep points with more KV tokens")
    ap.add_argument("--warmup-requests", type=int, default=8)
    ap.add_argument("--block-size", type=int, default=None)
    ap.add_argument("--num-blocks", type=int, default=None)
    ap.add_argument("--max-batch-tokens", type=int, default=None)
    ap.add_argument("--scheduler", default=None, choices=[None, "fifo", "prefill_first"])
    ap.add_argument("--max-memory-percent", type=float, default=None)
    ap.add_argument("--max-run-seconds", type=float, default=150.0)
    ap.add_argument("--sdpa-backend", default="default", choices=["default", "no-cudnn"],
                    help="no-cudnn: torch.backends.cuda.enable_cudnn_sdp(False) before anything runs")
    ap.add_argument("--sdpa-probe", action="store_true")
    ap.add_argument("--deadline", type=float, default=0.0,
                    help="wall seconds from start after which no new run is started (0: none)")
    a = ap.parse_args()
    t_start = perf_counter()
    torch.set_grad_enabled(False)  # main thread; the engine thread runs under its own no_grad
    if a.sdpa_backend == "no-cudnn":
        torch.backends.cuda.enable_cudnn_sdp(False)

    overrides = {}
    for o in a.override:
        k, v = o.split("=", 1)
        overrides[k] = json.loads(v)
    log(f"torch {torch.__version__} transformers {transformers.__version__} gpu {torch.cuda.get_device_name(0)}")
    model, cfg = build_model(a.model_config, overrides)
    nparams = sum(p.numel() for p in model.parameters())
    log(f"model {a.model_name}: {nparams/1e9:.3f} B params, mem {torch.cuda.memory_allocated()/2**30:.1f} GiB")

    gen_cfg = GenerationConfig(do_sample=False, max_new_tokens=16, eos_token_id=-1, pad_token_id=0)
    cb_kwargs = {}
    if a.block_size is not None:
        cb_kwargs["block_size"] = a.block_size
    if a.num_blocks is not None:
        cb_kwargs["num_blocks"] = a.num_blocks
    if a.max_batch_tokens is not None:
        cb_kwargs["max_batch_tokens"] = a.max_batch_tokens
    if a.scheduler is not None:
        cb_kwargs["scheduler_type"] = a.scheduler
    if a.max_memory_percent is not None:
        cb_kwargs["max_memory_percent"] = a.max_memory_percent
    cb_cfg = ContinuousBatchingConfig(**cb_kwargs) if ContinuousBatchingConfig is not None else None
    free_before = torch.cuda.mem_get_info()
    mgr = model.init_continuous_batching(generation_config=gen_cfg, continuous_batching_config=cb_cfg)
    t = perf_counter()
    mgr.warmup()  # creates the batch processor (cache, IO tensors); captures nothing in eager mode
    log(f"engine set up in {perf_counter() - t:.2f}s")
    bp = mgr.batch_processor
    base_meta = {
        "format_version": 1,
        "engine": "huggingface transformers continuous batching (ContinuousBatchingManager)",
        "system": system_info(),
        "model": {"name": a.model_name, "config_file": a.model_config, "overrides": overrides,
                  "num_parameters": nparams, "weights": "random (from_config, seed 0), bf16",
                  "config": jsonable(cfg.to_dict())},
        "engine_config": engine_info(mgr, model),
        "gpu_mem_free_before_engine_bytes": free_before[0],
        "driver_args": vars(a),
        "time_base": "seconds from the run's t0 (time.perf_counter() just before the first request is submitted)",
    }
    log("engine config:", json.dumps(base_meta["engine_config"], default=str)[:1500])
    base_meta["sdpa_backend_setting"] = a.sdpa_backend
    try:
        base_meta["host_probe"] = host_probe()
        log("host probe:", json.dumps(base_meta["host_probe"]))
    except Exception:
        log(f"host probe failed:\n{traceback.format_exc()}")
    os.makedirs(a.out, exist_ok=True)
    if a.sdpa_probe:
        try:
            base_meta["sdpa_probe"] = sdpa_probe(os.path.join(a.out, f"sdpa_probe_{a.model_name}.json"),
                                                 cfg.num_attention_heads, cfg.num_key_value_heads,
                                                 getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads)
        except Exception:
            log(f"sdpa probe failed:\n{traceback.format_exc()}")
    if a.sweep or a.quick_sweep:
        t = perf_counter()
        forward_sweep(mgr, model, os.path.join(a.out, f"sweep_{a.model_name}.csv"), quick=a.quick_sweep,
                      reps=a.sweep_reps, kv_cap=a.sweep_kv_cap)
        with open(os.path.join(a.out, f"sweep_{a.model_name}.meta.json"), "w") as f:
            json.dump(jsonable(base_meta), f, indent=1)
        log(f"sweep done in {perf_counter() - t:.1f}s")

    rec = StepRecorder(bp)
    mgr.start()
    vocab = cfg.vocab_size
    # warm-up requests (not recorded)
    if a.warmup_requests > 0:
        import random
        rng = random.Random(12345)
        t = perf_counter()
        lens = [64, 300, 1000, 2500, 128, 700, 1500, 3000][: a.warmup_requests]
        for k, L in enumerate(lens):
            mgr.add_request([rng.randrange(1000, vocab - 1000) for _ in range(L)], request_id=f"warm{k}",
                            max_new_tokens=24, eos_token_id=-1)
        got = {}
        while len(got) < len(lens) and perf_counter() - t < 120:
            drain(mgr, got, 0.5)
        log(f"warm-up: {len(got)} requests in {perf_counter() - t:.2f}s")
    for rs in a.run:
        spec = parse_run(rs)
        if a.deadline and perf_counter() - t_start > a.deadline:
            log(f"deadline reached, skipping run {spec['name']}")
            continue
        if not mgr.is_running():
            log(f"engine not running, skipping run {spec['name']}")
            continue
        log(f"=== run {spec['name']} ({spec['mode']}, rate {spec.get('rate')}, n {spec['n']}, role {spec.get('role')})")
        try:
            summary = do_run(mgr, rec, vocab, spec, os.path.join(a.out, spec["name"]), base_meta, a.max_run_seconds)
        except Exception:
            log(f"run {spec['name']} failed:\n{traceback.format_exc()}")
            rec.active = False
            summary = None
        if summary and summary["requests_finished"] < summary["requests_submitted"]:
            # Its unfinished requests stay in the engine: a later run would share the GPU with
            # them and, as request ids restart at 0 in every run, take their records for its own
            # (seen 2026-12-05: a first token before the request's arrival). Stop here.
            log(f"run {spec['name']} left {summary['requests_submitted'] - summary['requests_finished']} requests "
                "in the engine; skipping the remaining runs")
            break
        # let the engine go idle
        time.sleep(0.3)
    mgr.stop(block=True, timeout=60)
    log(f"all done in {perf_counter() - t_start:.1f}s")


if __name__ == "__main__":
    main()
