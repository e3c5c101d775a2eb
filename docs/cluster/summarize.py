#!/usr/bin/env python3
"""Prints one markdown table row per servesim output folder (summary.json).

Usage: summarize.py KIND LABEL=DIR [LABEL=DIR ...]
KIND: pd (disaggregation), prefix (routing on a prefix-sharing trace), hetero (mixed devices).
"""
import csv
import json
import sys


def load(d):
    with open(f"{d}/summary.json") as f:
        return json.load(f)


def ms(x):
    return f"{1e3 * x:.0f}" if x >= 0.1 else f"{1e3 * x:.1f}"


def pool_series(d, s):
    """Per pool: time-mean running requests per replica and KV used fraction (timeseries.csv).
    Replica ids are numbered pool after pool, in the order of summary.pools."""
    owner = []
    for i, p in enumerate(s["pools"]):
        owner += [i] * p["replicas"]
    run = [0.0] * len(s["pools"])
    kv = [0.0] * len(s["pools"])
    n = [0] * len(s["pools"])
    with open(f"{d}/timeseries.csv") as f:
        for row in csv.DictReader(f):
            i = owner[int(row["replica"])]
            run[i] += float(row["running"])
            kv[i] += float(row["kv_utilization"])
            n[i] += 1
    return [(run[i] / max(n[i], 1), kv[i] / max(n[i], 1)) for i in range(len(n))]


def pools_util(d, s):
    ser = pool_series(d, s)
    return " / ".join(f"{p['name']} {100 * p['busy_fraction']:.0f}, {r:.0f}, {100 * k:.0f}"
                      for p, (r, k) in zip(s["pools"], ser))


def slo_fraction(d, ttft, tpot):
    """Fraction of requests with TTFT <= ttft and TPOT <= tpot (TPOT undefined: met)."""
    ok = n = 0
    with open(f"{d}/requests.csv") as f:
        for row in csv.DictReader(f):
            n += 1
            if row["rejected"] not in ("0", "false", ""):
                continue
            t = float(row["ttft_s"]) if row["ttft_s"] else float("inf")
            p = float(row["tpot_s"]) if row["tpot_s"] else 0.0
            ok += t <= ttft and p <= tpot
    return ok / n if n else 0.0


def pd_row(label, d, s):
    t, p = s["ttft_s"], s["tpot_s"]
    x = s.get("kv_transfer") or {}
    xt = x.get("time_s") if x else None
    xfer = f"{ms(xt['mean'])} / {ms(xt['p99'])}" if xt and xt["count"] else "–"
    return (f"| {label} | {ms(t['p50'])} | {ms(t['p99'])} | {ms(p['p50'])} | {ms(p['p99'])} | "
            f"{s['throughput']['requests_per_s']:.2f} | {s['throughput']['output_tokens_per_s']:.0f} | "
            f"{s['goodput']['requests_per_s']:.2f} ({100 * s['goodput']['fraction']:.0f} %) | "
            f"{100 * slo_fraction(d, 2.0, 0.040):.0f} % | {s['requests']['preemptions']} | {pools_util(d, s)} | {xfer} |")


PD_HEAD = ("| run | TTFT p50 ms | TTFT p99 ms | TPOT p50 ms | TPOT p99 ms | req/s | out tok/s | "
           "goodput req/s (%) | SLO met, TPOT 40 ms | preempt | per pool: busy %, mean running / replica, mean KV use % | "
           "KV xfer mean / p99 ms |\n"
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")


def hit_rate(s):
    hit = sum(k["prefix_hit_tokens"] for k in s["kv"])
    look = sum(k["prefix_lookup_tokens"] for k in s["kv"])
    return hit / look if look else 0.0, s["tokens"]["prefix_cached"] / s["tokens"]["prompt"]


def prefix_row(label, d, s):
    t = s["ttft_s"]
    h_lookup, h_prompt = hit_rate(s)
    per = [k["prefix_hit_rate"] for k in s["kv"]]
    return (f"| {label} | {100 * h_prompt:.1f} | {100 * h_lookup:.1f} | {100 * min(per):.0f}–{100 * max(per):.0f} | "
            f"{ms(t['p50'])} | {ms(t['p99'])} | {ms(s['tpot_s']['p99'])} | {s['throughput']['requests_per_s']:.2f} | "
            f"{s['throughput']['total_tokens_per_s']:.0f} | {s['requests']['preemptions']} |")


PREFIX_HEAD = ("| router | hit % (cached / prompt) | hit % (hit / lookup) | per-replica hit % | TTFT p50 ms | "
               "TTFT p99 ms | TPOT p99 ms | req/s | tok/s | preempt |\n"
               "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")


def hetero_row(label, d, s):
    t, p = s["ttft_s"], s["tpot_s"]
    per = []
    for pool, (r, k) in zip(s["pools"], pool_series(d, s)):
        per.append(f"{pool['name']}: busy {100 * pool['busy_fraction']:.0f} %, running {r:.0f}, KV {100 * k:.0f} %, "
                   f"{pool['requests_entered']} req, TTFT p99 {ms(pool['ttft_s_of_entered']['p99'])}, "
                   f"TPOT p99 {ms(pool['tpot_s_of_finished']['p99'])}")
    return (f"| {label} | {ms(t['p50'])} | {ms(t['p99'])} | {ms(p['p50'])} | {ms(p['p99'])} | "
            f"{s['throughput']['requests_per_s']:.2f} | {s['requests']['preemptions']} | {'; '.join(per)} |")


HETERO_HEAD = ("| mix | TTFT p50 ms | TTFT p99 ms | TPOT p50 ms | TPOT p99 ms | req/s | preempt | per pool |\n"
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")


def main():
    kind = sys.argv[1]
    row, head = {"pd": (pd_row, PD_HEAD), "prefix": (prefix_row, PREFIX_HEAD),
                 "hetero": (hetero_row, HETERO_HEAD)}[kind]
    print(head)
    for arg in sys.argv[2:]:
        label, d = arg.split("=", 1)
        try:
            print(row(label, d, load(d)))
        except FileNotFoundError:
            print(f"| {label} | no output (the run failed) |")


if __name__ == "__main__":
    main()
