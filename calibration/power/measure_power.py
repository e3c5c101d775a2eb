#!/usr/bin/env python3
"""Power and clock of one GPU under steady kernels (issue 12's calibration data).

Runs each workload back to back for a few seconds while a thread samples NVML (power,
SM clock, memory clock, throttle reasons) every ~5 ms; writes one CSV row per workload
with the steady-state means (the first second of each workload is dropped) and the
kernel's time per iteration from CUDA events. Workloads: idle; bf16 and fp8 GEMMs from
small to large (compute-bound), with random, small-magnitude and zero data (the power a
GEMM draws depends on its data, so one kernel runs at several clocks under the same power
limit); device-to-device copies (memory-bound); decode-like skinny GEMMs (weights streamed
from HBM). Power limits are read, never changed (the lease forbids changing the device's
settings), so the effect of a cap is observed through the device's own power limit.

  python3 calibration/power/measure_power.py OUT.csv [seconds_per_workload]
"""
import ctypes, sys, threading, time, subprocess, datetime

import torch

OUT = sys.argv[1]
SECS = float(sys.argv[2]) if len(sys.argv) > 2 else 4.0

nv = ctypes.CDLL("libnvidia-ml.so.1")
nv.nvmlInit_v2()
dev = ctypes.c_void_p()
nv.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(dev))


class FieldValue(ctypes.Structure):
    _fields_ = [("fieldId", ctypes.c_uint), ("scopeId", ctypes.c_uint), ("timestamp", ctypes.c_longlong),
                ("latencyUsec", ctypes.c_longlong), ("valueType", ctypes.c_uint), ("nvmlReturn", ctypes.c_uint),
                ("value", ctypes.c_ulonglong)]


FI_POWER_INSTANT = 186  # NVML_FI_DEV_POWER_INSTANT (mW)


def power_instant_mw():
    fv = FieldValue()
    fv.fieldId = FI_POWER_INSTANT
    if nv.nvmlDeviceGetFieldValues(dev, 1, ctypes.byref(fv)) == 0 and fv.nvmlReturn == 0:
        return fv.value & 0xFFFFFFFF
    return None


def power_avg_mw():
    p = ctypes.c_uint()
    nv.nvmlDeviceGetPowerUsage(dev, ctypes.byref(p))
    return p.value


def clock(kind):  # 1 = SM, 2 = MEM
    c = ctypes.c_uint()
    nv.nvmlDeviceGetClockInfo(dev, kind, ctypes.byref(c))
    return c.value


def throttle():
    r = ctypes.c_ulonglong()
    nv.nvmlDeviceGetCurrentClocksThrottleReasons(dev, ctypes.byref(r))
    return r.value


def uint_query(fn):
    v = ctypes.c_uint()
    rc = getattr(nv, fn)(dev, ctypes.byref(v))
    return v.value if rc == 0 else None


samples = []
sampling = threading.Event()
stop = threading.Event()
use_instant = power_instant_mw() is not None


def sampler():
    while not stop.is_set():
        if sampling.is_set():
            p = power_instant_mw() if use_instant else power_avg_mw()
            samples.append((time.monotonic(), p / 1000.0, clock(1), clock(2), throttle()))
        time.sleep(0.005)


threading.Thread(target=sampler, daemon=True).start()

rows = []


def measure(name, kind, shape, dtype, data, flops, nbytes, fn):
    # Warm up, then run for SECS seconds; time per iteration from CUDA events over the
    # steady part; power and clocks averaged over the same part.
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    samples.clear()
    sampling.set()
    t0 = time.monotonic()
    steady_at = t0 + 1.0
    started = None
    iters = 0
    ev0 = torch.cuda.Event(enable_timing=True)
    ev1 = torch.cuda.Event(enable_timing=True)
    while True:
        now = time.monotonic()
        if started is None and now >= steady_at:
            torch.cuda.synchronize()
            started = time.monotonic()
            ev0.record()
            iters = 0
        if now - t0 >= SECS:
            break
        for _ in range(8):
            fn()
        iters += 8
        torch.cuda.synchronize() if iters % 64 == 0 else None
    ev1.record()
    torch.cuda.synchronize()
    end = time.monotonic()
    sampling.clear()
    ms = ev0.elapsed_time(ev1)
    st = [s for s in samples if started <= s[0] <= end]
    if not st:
        st = samples[-10:]
    n = len(st)
    pw = sorted(s[1] for s in st)
    t_iter_us = ms * 1e3 / iters if iters else 0.0
    reasons = 0
    for s in st:
        reasons |= s[4]
    rows.append(dict(workload=name, kind=kind, shape=shape, dtype=dtype, data=data, flops=flops, bytes=nbytes, iters=iters,
                     time_per_iter_us=round(t_iter_us, 3),
                     tflops=round(flops / (t_iter_us * 1e-6) / 1e12, 2) if flops and t_iter_us else 0,
                     gbs=round(nbytes / (t_iter_us * 1e-6) / 1e9, 1) if nbytes and t_iter_us else 0,
                     power_mean_w=round(sum(pw) / n, 1), power_p10_w=round(pw[n // 10], 1), power_p90_w=round(pw[(9 * n) // 10], 1),
                     sm_clock_mean_mhz=round(sum(s[2] for s in st) / n, 1), mem_clock_mhz=round(sum(s[3] for s in st) / n, 1),
                     throttle_reasons=hex(reasons), samples=n))
    print(rows[-1], flush=True)


def idle():
    torch.cuda.synchronize()
    samples.clear()
    sampling.set()
    time.sleep(SECS)
    sampling.clear()
    st = samples[len(samples) // 4:]
    n = len(st)
    pw = sorted(s[1] for s in st)
    rows.append(dict(workload="idle", kind="idle", shape="", dtype="", data="", flops=0, bytes=0, iters=0, time_per_iter_us=0,
                     tflops=0, gbs=0, power_mean_w=round(sum(pw) / n, 1), power_p10_w=round(pw[n // 10], 1),
                     power_p90_w=round(pw[(9 * n) // 10], 1), sm_clock_mean_mhz=round(sum(s[2] for s in st) / n, 1),
                     mem_clock_mhz=round(sum(s[3] for s in st) / n, 1), throttle_reasons=hex(0), samples=n))
    print(rows[-1], flush=True)


def make(shape, dtype, data):
    if data == "zeros":
        return torch.zeros(shape, device="cuda", dtype=dtype)
    t = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
    if data == "small":
        t = t * 1e-3
    return t.to(dtype)


idle()
# Compute-bound GEMMs: bf16 at several sizes and data patterns.
for (m, n, k) in [(16384, 16384, 16384), (8192, 8192, 8192), (4096, 4096, 4096), (2048, 2048, 2048), (1024, 1024, 1024)]:
    for data in (["random", "small", "zeros"] if m >= 8192 else ["random"]):
        a = make((m, k), torch.bfloat16, data)
        b = make((k, n), torch.bfloat16, data)
        measure(f"gemm_bf16_{m}", "gemm", f"{m}x{n}x{k}", "bf16", data, 2 * m * n * k, 2 * (m * k + k * n + m * n), lambda: a @ b)
        del a, b
# fp8 GEMM (scaled_mm) where PyTorch supports it.
try:
    m = n = k = 8192
    for data in ["random", "zeros"]:
        a = make((m, k), torch.float8_e4m3fn, data)
        b = make((n, k), torch.float8_e4m3fn, data).t()
        one = torch.ones((), device="cuda")
        measure(f"gemm_fp8_{m}", "gemm", f"{m}x{n}x{k}", "fp8", data, 2 * m * n * k, m * k + k * n + 2 * m * n,
                lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16))
        del a, b
except Exception as e:  # noqa: BLE001
    print("fp8 GEMM skipped:", e, flush=True)
# Memory-bound: device-to-device copies (bytes read + written).
for gib in [4, 1]:
    nel = gib * (1 << 30) // 2
    src = torch.randn(nel, device="cuda", dtype=torch.bfloat16)
    dst = torch.empty_like(src)
    measure(f"copy_{gib}gib", "copy", f"{gib}GiB", "bf16", "random", 0, 2 * nel * 2, lambda: dst.copy_(src))
    del src, dst
# Decode-like skinny GEMMs: a batch of m tokens times a 8192x28672 weight (470 MB, streamed).
for m in [1, 16, 64, 256, 1024]:
    k, n = 8192, 28672
    x = make((m, k), torch.bfloat16, "random")
    w = make((k, n), torch.bfloat16, "random")
    measure(f"decode_gemm_m{m}", "skinny_gemm", f"{m}x{n}x{k}", "bf16", "random", 2 * m * n * k, 2 * (m * k + k * n + m * n),
            lambda: x @ w)
    del x, w
idle()

limits = {q: uint_query(q) for q in ["nvmlDeviceGetPowerManagementLimit", "nvmlDeviceGetEnforcedPowerLimit",
                                     "nvmlDeviceGetPowerManagementDefaultLimit"]}
name = ctypes.create_string_buffer(96)
nv.nvmlDeviceGetName(dev, name, 96)
drv = ctypes.create_string_buffer(80)
nv.nvmlSystemGetDriverVersion(drv, 80)
maxc = ctypes.c_uint()
nv.nvmlDeviceGetMaxClockInfo(dev, 1, ctypes.byref(maxc))
cols = list(rows[0].keys())
with open(OUT, "w") as f:
    f.write(f"# gpu: {name.value.decode()}; driver {drv.value.decode()}; torch {torch.__version__}; cuda {torch.version.cuda}\n")
    f.write(f"# power limits (mW): {limits}; max SM clock {maxc.value} MHz; power sampled with "
            f"{'NVML_FI_DEV_POWER_INSTANT' if use_instant else 'nvmlDeviceGetPowerUsage'} every ~5 ms\n")
    f.write(f"# measured {datetime.datetime.now(datetime.timezone.utc).isoformat()} by calibration/power/measure_power.py, {SECS} s per workload "
            f"(first second dropped); throttle_reasons is the OR of NVML clock-event reasons over the steady part "
            f"(0x4 SW power cap, 0x20 SW thermal, 0x40 HW thermal, 0x80 HW power brake)\n")
    f.write(",".join(cols) + "\n")
    for r in rows:
        f.write(",".join(str(r[c]) for c in cols) + "\n")
print("wrote", OUT)
