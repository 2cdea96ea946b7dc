#!/usr/bin/env python3
"""Benchmark: the latency of a well-behaved client with and without a slowloris
(issue 19 point 6 target: p99 under slowloris <= 2x the p99 without).

Starts a 2-rank server (launch/launch_baseline.sh, stories260K unless MODEL is set),
then for each of --rounds rounds: N sequential short completions alone, then N more
while a slowloris holds --conns half-open connections (from 6 local addresses, one
header byte per second each, reopened when the server closes them). Prints p50/p99 of
both and the ratio of the p99s per round and the median over rounds; stops the server.
   tools/bench-slowloris.py [--requests 100] [--conns 360] [--rounds 3]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "scripts"))
from httpabuse import Polite, Slowloris, percentile  # noqa: E402
from serverlib import Server  # noqa: E402
from testlib import SHARED  # noqa: E402


def measure(port, n):
    p = Polite(port, pause=0.0)
    for _ in range(n):
        p.one()
    bad = [s for s, _ in p.results if s != 200]
    lat = [d for s, d in p.results if s == 200]
    return lat, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--conns", type=int, default=360)
    ap.add_argument("--rounds", type=int, default=3)
    opt = ap.parse_args()
    model = os.environ.get("MODEL", os.path.join(SHARED, "models", "stories260K", "stories260K.gguf"))
    srv = Server(model, args=["--max-connections-per-client", "64"])
    ratios = []
    try:
        measure(srv.port, 10)  # warm-up
        for r in range(opt.rounds):
            base, bad0 = measure(srv.port, opt.requests)
            sl = Slowloris(srv.port, n=opt.conns, addrs=6, drip=1.0)
            sl.start()
            time.sleep(3.0)
            held = sl.open_now()
            loris, bad1 = measure(srv.port, opt.requests)
            sl.stop_flag = True
            sl.join(30)
            p99a, p99b = percentile(base, 0.99), percentile(loris, 0.99)
            ratios.append(p99b / p99a)
            print(f"round {r + 1}: alone p50 {percentile(base, 0.5) * 1000:.1f} ms p99 {p99a * 1000:.1f} ms; "
                  f"with slowloris ({held} held, {sl.closed_by_server} closed by the server) p50 "
                  f"{percentile(loris, 0.5) * 1000:.1f} ms p99 {p99b * 1000:.1f} ms; ratio {p99b / p99a:.2f}; "
                  f"failed {len(bad0)} / {len(bad1)}", flush=True)
        print(f"median p99 ratio over {opt.rounds} rounds: {statistics.median(ratios):.2f} (target <= 2)")
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
