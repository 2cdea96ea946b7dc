#!/usr/bin/python3
"""Aggregate generation speed and time to first token of a running shardlm server
for 1, 4, 16 ... concurrent streaming requests (standard library only).

  tools/bench-serve.py --url http://127.0.0.1:8080 --concurrency 1,4,16 --max-tokens 32 --reps 3

Each request streams a completion of --max-tokens tokens (ignore_eos) from its own
prompt (distinct prompts, so the prefix cache does not help). Per concurrency level
and repetition: aggregate tok/s = all generated tokens / wall time of the batch;
TTFT = time from sending to the first streamed token. Prints medians as a markdown
table, with progress on stderr. A benchmark program, not a test."""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

WORDS = "the quick brown fox jumps over the lazy dog while a small bird sings in the old tree".split()


def prompt(i, n_words):
    return " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(n_words)) + f" {i}"


def one(url, body, out, idx):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=3600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    ttft, n, usage = None, 0, None
    if r.status != 200:
        out[idx] = {"error": f"HTTP {r.status}: {r.read()[:200]!r}"}
        return
    for line in r:
        if not line.startswith(b"data: "):
            continue
        data = line[6:].strip()
        if data == b"[DONE]":
            break
        ch = json.loads(data)
        if ch.get("usage"):
            usage = ch["usage"]
        if ch.get("choices") and ch["choices"][0].get("text"):
            if ttft is None:
                ttft = time.perf_counter() - t0
    c.close()
    out[idx] = {"ttft": ttft, "tokens": usage["completion_tokens"] if usage else n, "end": time.perf_counter() - t0}


def level(url, conc, max_tokens, n_words, rep):
    out = [None] * conc
    threads = []
    t0 = time.perf_counter()
    for i in range(conc):
        body = {"prompt": prompt(rep * 1000 + i, n_words), "max_tokens": max_tokens, "temperature": 0,
                "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}
        t = threading.Thread(target=one, args=(url, body, out, i))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    errors = [o["error"] for o in out if "error" in o]
    if errors:
        raise SystemExit(f"bench-serve: {len(errors)} requests failed, first: {errors[0]}")
    toks = sum(o["tokens"] for o in out)
    return toks / wall, statistics.median(o["ttft"] for o in out), max(o["ttft"] for o in out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--prompt-words", type=int, default=40)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    rows = []
    for conc in [int(x) for x in a.concurrency.split(",")]:
        res = []
        for rep in range(a.reps):
            print(f"bench-serve: {a.label} concurrency {conc} run {rep + 1}/{a.reps}", file=sys.stderr, flush=True)
            res.append(level(a.url, conc, a.max_tokens, a.prompt_words, rep))
        rows.append((conc, statistics.median(r[0] for r in res), statistics.median(r[1] for r in res),
                     statistics.median(r[2] for r in res)))
    print("| setup | streams | aggregate tok/s (median) | TTFT median s | TTFT max s |")
    print("| --- | --- | --- | --- | --- |")
    for conc, tps, ttft, ttft_max in rows:
        print(f"| {a.label} | {conc} | {tps:.2f} | {ttft:.3f} | {ttft_max:.3f} |")


main()
