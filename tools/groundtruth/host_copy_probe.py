#!/usr/bin/env python3
"""Host-side copy rates of the machine a device profile describes: what bounds a copy from or to
pageable (not pinned) host memory. The CUDA driver cannot DMA from pageable memory, so it
stages such a copy through pinned bounce buffers: the host CPU copies the bytes between the
user's pages and the staging buffer (one memcpy per chunk), and the DMA engine moves the
staging buffer over the host link, the two pipelined. A large pageable copy therefore moves at
most at the host's memcpy rate between cold pageable memory and a hot pinned buffer.

Measured here, with no GPU in the loop (so independent of the harness's copy tables):
  h2d pattern: libc memcpy from a pageable source (offsets rotating over a 2 GiB pre-touched
               buffer, so the source is never in cache) into a 2 MiB pinned buffer (reused);
  d2h pattern: the reverse (pinned source, rotating pageable destination).
One thread (the driver stages on the calling thread). Median of 5 repeats per size.
For reference, the same sizes as torch copies between pageable host tensors and the GPU
(host wall time until synchronize), to compare with the harness's wall_gbps.

Usage: host_copy_probe.py OUT.json
"""
import ctypes
import json
import statistics
import sys
from time import perf_counter

import torch

GIB = 1 << 30
MIB = 1 << 20
STAGE = 2 * MIB
SIZES = [1 * MIB, 4 * MIB, 16 * MIB, 64 * MIB, 256 * MIB]
REPS = 5


def main() -> None:
    out_path = sys.argv[1]
    big = torch.ones(2 * GIB, dtype=torch.uint8)  # pageable, pre-touched
    big_ptr = big.data_ptr()
    stage = torch.empty(STAGE, dtype=torch.uint8, pin_memory=True)
    stage_ptr = stage.data_ptr()
    off = 0

    def staged(size: int, to_device: bool) -> float:
        nonlocal off
        if off + size > big.numel():
            off = 0
        t = perf_counter()
        done = 0
        while done < size:
            n = min(STAGE, size - done)
            if to_device:
                ctypes.memmove(stage_ptr, big_ptr + off + done, n)
            else:
                ctypes.memmove(big_ptr + off + done, stage_ptr, n)
            done += n
        dt = perf_counter() - t
        off += size
        return dt

    rows = []
    for direction in ("h2d", "d2h"):
        for size in SIZES:
            staged(size, direction == "h2d")  # warm-up
            ts = [staged(size, direction == "h2d") for _ in range(REPS)]
            s = statistics.median(ts)
            rows.append({"pattern": f"memcpy_{direction}", "bytes": size, "median_s": s, "gbps": size / s / 1e9})

    dev = torch.empty(max(SIZES), dtype=torch.uint8, device="cuda")
    for direction in ("h2d", "d2h"):
        for size in SIZES:
            host = big[:size]  # pageable
            d = dev[:size]
            ts = []
            for i in range(REPS + 1):
                torch.cuda.synchronize()
                t = perf_counter()
                if direction == "h2d":
                    d.copy_(host)
                else:
                    host.copy_(d)
                torch.cuda.synchronize()
                if i > 0:
                    ts.append(perf_counter() - t)
            s = statistics.median(ts)
            rows.append({"pattern": f"torch_pageable_{direction}", "bytes": size, "median_s": s, "gbps": size / s / 1e9})

    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    res = {"method": __doc__.split("Usage:")[0].strip(), "cpu_model": cpu,
           "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "rows": rows}
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
    for r in rows:
        print(f"{r['pattern']:24s} {r['bytes'] / MIB:7.0f} MiB  {r['gbps']:7.2f} GB/s")


if __name__ == "__main__":
    main()
