#!/usr/bin/env python3
"""Prefix-hit bounds of a Mooncake JSONL trace, independent of the simulator.

For the first N requests, the fraction of prompt tokens whose leading hash blocks were seen
before (a request's hit = its leading run of known blocks x block tokens, capped at the
prompt), with one block-LRU cache of each given capacity (blocks), and with no limit.
Usage: prefix_bound.py TRACE N BLOCK_TOKENS CAPACITY_BLOCKS...
"""
import json
import sys
from collections import OrderedDict


def hit_rate(reqs, block, cap):
    cache = OrderedDict()
    hit = total = 0
    for r in reqs:
        total += r["input_length"]
        m = 0
        for h in r["hash_ids"]:
            if h not in cache:
                break
            m += 1
        hit += min(m * block, r["input_length"])
        for h in r["hash_ids"]:
            cache[h] = True
            cache.move_to_end(h)
        while cap is not None and len(cache) > cap:
            cache.popitem(last=False)
    return hit / total


def main():
    path, n, block = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(path) as f:
        reqs = [json.loads(line) for _, line in zip(range(n), f)]
    print("| one LRU of (blocks) | hit % |\n| ---: | ---: |")
    for cap in [int(c) for c in sys.argv[4:]] + [None]:
        print(f"| {cap if cap is not None else 'unlimited'} | {100 * hit_rate(reqs, block, cap):.1f} |")


if __name__ == "__main__":
    main()
