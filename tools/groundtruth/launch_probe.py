#!/usr/bin/env python3
"""Host launch time against CUDA-graph replay, measured with PyTorch on one GPU.

Writes one JSON object (to --out) with:
  trivial:  host seconds to issue one tiny eager kernel (x.add_(1) on one element), and
            the device seconds such a kernel takes when the host is not the bottleneck;
  graph:    host seconds of one replay of a captured graph of N tiny kernels, per N, and
            the wall seconds of a synchronised replay;
  stack:    a Llama-3.1-8B-shaped decoder stack (32 layers, hidden 4096, 32 query / 8 KV
            heads of 128, MLP 14336, bf16, random weights, contiguous KV of `ctx` tokens)
            decoding one token per sequence: per batch size, the eager step (wall, synchronised),
            the graph-replayed step (wall), the host time of issuing the eager step (until the
            last launch returns), and the number of kernels one eager step launches
            (torch.profiler).
Nothing here is vLLM: it measures what launching PyTorch kernels costs on this host and what a
graph replay saves, the two constants of servesim's launch model (docs/engine_host.md).
"""
import argparse
import json
import math
import platform
import time

import torch
import torch.nn.functional as F


def trivial(n=4000):
    x = torch.zeros(1, device="cuda")
    for _ in range(200):
        x.add_(1)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        x.add_(1)
    host = (time.perf_counter() - t0) / n
    torch.cuda.synchronize()
    # Device time per kernel: a captured graph of n kernels replayed, timed by events.
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        with torch.cuda.graph(g):
            for _ in range(1000):
                x.add_(1)
    torch.cuda.synchronize()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    g.replay()
    e0.record()
    for _ in range(10):
        g.replay()
    e1.record()
    torch.cuda.synchronize()
    device = e0.elapsed_time(e1) * 1e-3 / (10 * 1000)
    return {"host_s_per_launch": host, "device_s_per_kernel": device}


def graph_replay(ns=(1, 10, 100, 1000), reps=200):
    out = []
    x = torch.zeros(1, device="cuda")
    for n in ns:
        g = torch.cuda.CUDAGraph()
        s = torch.cuda.Stream()
        with torch.cuda.stream(s):
            with torch.cuda.graph(g):
                for _ in range(n):
                    x.add_(1)
        torch.cuda.synchronize()
        for _ in range(10):
            g.replay()
        torch.cuda.synchronize()
        host = 0.0
        wall = 0.0
        for _ in range(reps):
            t0 = time.perf_counter()
            g.replay()
            t1 = time.perf_counter()
            torch.cuda.synchronize()
            t2 = time.perf_counter()
            host += t1 - t0
            wall += t2 - t0
        out.append({"kernels": n, "host_s_per_replay": host / reps, "wall_s_per_replay": wall / reps})
    return out


class Stack:
    """Llama-3.1-8B-shaped decoder layers, decode only (one new token per sequence)."""

    def __init__(self, layers, batch, ctx, hidden=4096, heads=32, kv_heads=8, head_dim=128, inter=14336):
        d, dt = "cuda", torch.bfloat16
        g = torch.Generator(device=d).manual_seed(0)
        r = lambda *s: (torch.randn(*s, device=d, dtype=dt, generator=g) * 0.02)
        self.layers = []
        for _ in range(layers):
            self.layers.append({
                "ln1": torch.ones(hidden, device=d, dtype=dt), "ln2": torch.ones(hidden, device=d, dtype=dt),
                "qkv": r((heads + 2 * kv_heads) * head_dim, hidden), "o": r(hidden, heads * head_dim),
                "gate_up": r(2 * inter, hidden), "down": r(hidden, inter),
                "k": r(batch, kv_heads, ctx + 1, head_dim), "v": r(batch, kv_heads, ctx + 1, head_dim),
            })
        self.x = r(batch, 1, hidden)
        self.cos = r(1, 1, 1, head_dim)
        self.sin = r(1, 1, 1, head_dim)
        self.h, self.kvh, self.hd, self.inter = heads, kv_heads, head_dim, inter

    @staticmethod
    def rms(x, w):
        v = x.float().pow(2).mean(-1, keepdim=True)
        return (x.float() * torch.rsqrt(v + 1e-5)).to(x.dtype) * w

    def rope(self, t):
        a, b = t[..., : self.hd // 2], t[..., self.hd // 2:]
        return t * self.cos + torch.cat((-b, a), dim=-1) * self.sin

    def step(self):
        x = self.x
        b = x.shape[0]
        for L in self.layers:
            h = self.rms(x, L["ln1"])
            qkv = F.linear(h, L["qkv"])
            q, k, v = qkv.split([self.h * self.hd, self.kvh * self.hd, self.kvh * self.hd], dim=-1)
            q = self.rope(q.view(b, 1, self.h, self.hd).transpose(1, 2))
            k = self.rope(k.view(b, 1, self.kvh, self.hd).transpose(1, 2))
            L["k"][:, :, -1:, :].copy_(k)
            L["v"][:, :, -1:, :].copy_(v.view(b, 1, self.kvh, self.hd).transpose(1, 2))
            a = F.scaled_dot_product_attention(q, L["k"], L["v"], enable_gqa=True)
            x = x + F.linear(a.transpose(1, 2).reshape(b, 1, self.h * self.hd), L["o"])
            h = self.rms(x, L["ln2"])
            gu = F.linear(h, L["gate_up"])
            g_, u = gu.split(self.inter, dim=-1)
            x = x + F.linear(F.silu(g_) * u, L["down"])
        return x


def stack_case(batch, ctx, layers=32, reps=20):
    torch.cuda.empty_cache()
    st = Stack(layers, batch, ctx)
    with torch.no_grad():
        for _ in range(3):
            st.step()
        torch.cuda.synchronize()
        # kernels per eager step
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            st.step()
            torch.cuda.synchronize()
        kernels = sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)
        eager, host = [], []
        for _ in range(reps):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            st.step()
            t1 = time.perf_counter()
            torch.cuda.synchronize()
            t2 = time.perf_counter()
            eager.append(t2 - t0)
            host.append(t1 - t0)
        g = torch.cuda.CUDAGraph()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):
                st.step()
        torch.cuda.current_stream().wait_stream(s)
        with torch.cuda.graph(g):
            st.step()
        torch.cuda.synchronize()
        graph = []
        for _ in range(reps):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            g.replay()
            torch.cuda.synchronize()
            graph.append(time.perf_counter() - t0)
    med = lambda v: sorted(v)[len(v) // 2]
    del st, g
    return {"batch": batch, "ctx": ctx, "layers": layers, "kernels_per_step": kernels,
            "eager_step_s": med(eager), "eager_host_issue_s": med(host), "graph_step_s": med(graph)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--batches", default="1,8,32,128")
    ap.add_argument("--ctx", type=int, default=1024)
    a = ap.parse_args()
    res = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
           "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    res["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    res["trivial"] = trivial()
    res["graph"] = graph_replay()
    res["stack"] = []
    for b in [int(v) for v in a.batches.split(",")]:
        res["stack"].append(stack_case(b, a.ctx))
        print(json.dumps(res["stack"][-1]), flush=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({k: v for k, v in res.items() if k != "stack"}, indent=1))


if __name__ == "__main__":
    main()
