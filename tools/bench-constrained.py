#!/usr/bin/env python3
"""Constrained vs unconstrained decode speed (issue 16 point 3 targets), side by side on
one server: the same prompt decoded MAX_TOKENS tokens unconstrained (ignore_eos) and
under each schema below (response_format json_schema; schemas whose documents do not
end before MAX_TOKENS), alternating request by request so that the machine's load hits
both alike. Decode tok/s of a request = (completion_tokens - 1) / (last chunk - first
chunk), streamed. Prints each run, the medians, the ratios, the machine's load average,
and the server's mask-time distribution (/admin/status grammar: every mask the engine
thread computed while serving these requests). Usage:
  tools/bench-constrained.py MODEL [--ranks 2] [--tokens 64] [--reps 5]
Starts and stops the server through launch/launch_baseline.sh."""
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

# Arrays with minItems far beyond MAX_TOKENS, so that every request decodes exactly
# MAX_TOKENS tokens whatever the model: strings (mostly the in-string fast path) and
# objects with keys, integers, enums, booleans and nested arrays (trie walks and the
# per-state mask cache).
SCHEMAS = {
    "strings": {"type": "array", "items": {"type": "string"}, "minItems": 100000},
    "structured": {"type": "array", "minItems": 100000, "items": {"type": "object", "properties": {
        "id": {"type": "integer"}, "kind": {"enum": ["alpha", "beta", "gamma"]}, "ok": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "integer"}, "maxItems": 3}},
        "required": ["id", "kind", "ok", "tags"]}},
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Srv:
    def __init__(self, model, ranks):
        self.port = free_port()
        self.run_dir = tempfile.mkdtemp(prefix="shardlm-gbench-")
        self.env = dict(os.environ, MODEL=model, RANKS=str(ranks), PORT=str(self.port), RUN_DIR=self.run_dir,
                        WAIT_S="900", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                        MPI_ARGS="--oversubscribe")
        self.env.setdefault("SHARDLM_BIN", os.path.join(ROOT, "build", "shardlm"))
        r = subprocess.run(["bash", os.path.join(ROOT, "launch", "launch_baseline.sh")], env=self.env)
        if r.returncode:
            sys.exit("the server did not start; see " + self.run_dir)

    def stop(self):
        subprocess.run(["bash", os.path.join(ROOT, "launch", "stop_server.sh")], env=self.env)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        c.request("GET", path)
        return json.loads(c.getresponse().read())

    def decode_rate(self, body):
        """(decode tok/s, completion tokens, finish) of one streamed request."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1200)
        c.request("POST", "/v1/chat/completions", body=json.dumps(dict(body, stream=True,
                  stream_options={"include_usage": True})), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            sys.exit(f"HTTP {r.status}: {r.read()[:400]}")
        first = last = None
        tokens, finish = 0, None
        for line in r:
            line = line.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            ch = json.loads(line[6:])
            now = time.monotonic()
            if ch.get("usage"):
                tokens = ch["usage"]["completion_tokens"]
            for choice in ch.get("choices", []):
                if (choice.get("delta") or {}).get("content"):
                    first = first or now
                    last = now
                finish = choice.get("finish_reason") or finish
        c.close()
        rate = (tokens - 1) / (last - first) if first and last and last > first else 0.0
        return rate, tokens, finish


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    load0 = os.getloadavg()
    srv = Srv(a.model, a.ranks)
    try:
        base = {"messages": [{"role": "user", "content": "Write a short note about the weather."}],
                "max_tokens": a.tokens, "temperature": 0}
        kinds = {"unconstrained": dict(base, ignore_eos=True)}
        for name, schema in SCHEMAS.items():
            kinds[name] = dict(base, response_format={"type": "json_schema", "json_schema": {"name": name, "schema": schema}})
        srv.decode_rate(kinds["unconstrained"])  # warm-up (first-touch of the weights)
        for name in SCHEMAS:
            srv.decode_rate(kinds[name])  # warm-up: builds the token trie
        rates = {k: [] for k in kinds}
        for rep in range(a.reps):
            for k, body in kinds.items():
                rate, toks, finish = srv.decode_rate(body)
                rates[k].append(rate)
                print(f"rep {rep} {k:13s} {rate:7.2f} tok/s  ({toks} tokens, {finish})", flush=True)
        g = srv.get("/admin/status").get("grammar", {})
    finally:
        srv.stop()
    load1 = os.getloadavg()
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"\nmodel {os.path.basename(a.model)}, {a.ranks} ranks, {a.tokens} tokens per request, {a.reps} reps")
    for k, m in med.items():
        print(f"  {k:13s} median {m:7.2f} tok/s  (min {min(rates[k]):.2f}, max {max(rates[k]):.2f})")
    for k in SCHEMAS:
        print(f"  ratio {k} / unconstrained = {med[k] / med['unconstrained']:.3f}")
    print(f"  masks {g.get('masks')} (cache hits {g.get('mask_cache_hits')}, misses {g.get('mask_cache_misses')}): "
          f"p50 {g.get('mask_p50_ms', 0):.3f} ms, p99 {g.get('mask_p99_ms', 0):.3f} ms, max {g.get('mask_max_ms', 0):.3f} ms")
    print(f"  load average before {load0[0]:.1f}, after {load1[0]:.1f} (1-minute), {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
