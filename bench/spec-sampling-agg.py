#!/usr/bin/env python3
"""Aggregate tok/s per case and level of bench/spec-sampling-ngram.sh results: a case's
completion tokens over the span from its first request sent to its last response end;
prints the markdown table of docs/benchmarks.md: runs in order (r1, r2, ...; off and on of one
run were measured back to back), the ratio of the medians, and the median of the per-run
ratios. Usage: spec-sampling-agg.py RESULTS_DIR"""
import json, glob, os, sys, statistics
root = sys.argv[1]
res = {}
for d in glob.glob(f"{root}/*/ngram-*/requests.jsonl"):
    label = d.split("/")[-3]  # off-c1-r1
    mode, c, rep = label.split("-")
    by = {}
    for line in open(d):
        r = json.loads(line)
        if not r.get("valid"): continue
        by.setdefault(r["case"], []).append(r)
    for case, rs in by.items():
        t0 = min(r["send_s"] for r in rs); t1 = max(r["send_s"] + r["total_s"] for r in rs)
        tok = sum(r["completion_tokens"] for r in rs)
        res.setdefault((case, int(c[1:]), mode), []).append((int(rep[1:]), tok / (t1 - t0)))
print("| case | streams | off tok/s (runs) | on tok/s (runs) | on / off (medians) | on / off (median of runs) |")
print("| --- | ---: | --- | --- | ---: | ---: |")
for case in ["repetitive", "edit", "random"]:
    for c in sorted({k[1] for k in res}):
        off = dict(res.get((case, c, "off"), [])); on = dict(res.get((case, c, "on"), []))
        if not off or not on: continue
        r = statistics.median(on.values()) / statistics.median(off.values())
        pr = statistics.median(on[k] / off[k] for k in off if k in on)
        fmt = lambda d: ", ".join(f"{d[k]:.0f}" for k in sorted(d))
        print(f"| {case} | {c} | {fmt(off)} | {fmt(on)} | {r:.2f} | {pr:.2f} |")
