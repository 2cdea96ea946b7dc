#!/usr/bin/env python3
"""Disk tier TTFT (issue 14 targets): a PROMPT_TOKENS-token prompt computed from scratch
(--kv-tier cpu, cold), then the same prompt after other prompts have evicted it from
memory (cpu_disk: read back from disk), then after a server restart (rehydrate), and the
same eviction case on --kv-tier cpu (recompute). Prints each TTFT (streamed first
chunk) and the ratios. Usage:
  tools/bench-kv-disk.py MODEL [--tokens 2000] [--ranks 2] [--reps 3]
Starts and stops the server through launch/launch_baseline.sh (same environment)."""
import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Srv:
    def __init__(self, model, ranks, args):
        self.port = port()
        self.run_dir = tempfile.mkdtemp(prefix="shardlm-kvbench-")
        self.env = dict(os.environ, MODEL=model, RANKS=str(ranks), PORT=str(self.port), RUN_DIR=self.run_dir, WAIT_S="600",
                        OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", MPI_ARGS="--oversubscribe")
        self.env.setdefault("SHARDLM_BIN", os.path.join(ROOT, "build", "shardlm"))
        r = subprocess.run(["bash", os.path.join(ROOT, "launch", "launch_baseline.sh"), *args], env=self.env)
        if r.returncode:
            sys.exit("server did not start")

    def stop(self):
        subprocess.run(["bash", os.path.join(ROOT, "launch", "stop_server.sh")], env=self.env)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def ttft(self, prompt_ids, n=4):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1200)
        body = {"prompt": prompt_ids, "max_tokens": n, "temperature": 0, "ignore_eos": True, "stream": True}
        t0 = time.perf_counter()
        c.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        first, text = None, ""
        for line in r:
            line = line.decode().strip()
            if line.startswith("data: ") and line != "data: [DONE]":
                if first is None:
                    first = time.perf_counter() - t0
                text += json.loads(line[6:])["choices"][0]["text"]
        c.close()
        return first, text

    def kv(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("GET", "/admin/kv")
        j = json.loads(c.getresponse().read())
        c.close()
        return j


def prompt(seed, n):
    # Token ids (no tokenizer round trip): a deterministic walk over ordinary ids.
    return [1] + [1000 + (seed * 7919 + i * 104729) % 20000 for i in range(n - 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    bs = 16
    blocks = (a.tokens + 64) // bs + 8  # one prompt fits; a second one evicts the first
    pool = ["--kv-blocks", str(blocks), "--block-size", str(bs), "--max-num-seqs", "1", "--ctx-size", str(a.tokens + 64),
            "--max-batch-tokens", "512"]
    disk = tempfile.mkdtemp(prefix="shardlm-kvbench-disk-")
    res = {}

    def evict_then_time(srv, seed):
        srv.ttft(prompt(seed, a.tokens))           # computed (and registered)
        srv.ttft(prompt(seed + 100, a.tokens))     # another prompt evicts it from memory
        return srv.ttft(prompt(seed, a.tokens))    # the measured request

    s = Srv(a.model, a.ranks, ["--kv-tier", "cpu", *pool])
    res["recompute"] = [evict_then_time(s, i)[0] for i in range(a.reps)]
    s.stop()
    s = Srv(a.model, a.ranks, ["--kv-tier", "cpu_disk", "--kv-disk-dir", disk, *pool])
    outs = []
    res["disk"] = []
    for i in range(a.reps):
        t, txt = evict_then_time(s, i)
        res["disk"].append(t)
        outs.append(txt)
    k1 = s.kv()
    s.stop()
    s = Srv(a.model, a.ranks, ["--kv-tier", "cpu_disk", "--kv-disk-dir", disk, *pool])
    res["restart"] = []
    for i in range(a.reps):
        t, txt = s.ttft(prompt(i, a.tokens))
        res["restart"].append(t)
        if txt != outs[i]:
            print(f"!! rep {i}: text after restart differs")
    k2 = s.kv()
    s.stop()
    shutil.rmtree(disk, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in res.items()}
    for k, v in res.items():
        print(f"{k:10s} TTFT s: " + " ".join(f"{x:.3f}" for x in v) + f"  median {med[k]:.3f}")
    print(f"recompute / disk    = {med['recompute'] / med['disk']:.2f}x")
    print(f"recompute / restart = {med['recompute'] / med['restart']:.2f}x")
    print("disk run:", json.dumps(k1["scheduler"]), "restart:", json.dumps(k2["scheduler"]), json.dumps({x: k2["disk"][x] for x in ("scanned_files", "restored_bytes")}))


if __name__ == "__main__":
    main()
