#!/usr/bin/env python3
"""Aggregate decode throughput of an OpenAI-compatible server at N concurrent streams.

The same client for `shardlm serve` and llama-server (tools/bench-peer.sh): N threads,
each sends REQUESTS non-streaming /v1/completions requests one after the other
(distinct prompts, so no prefix is shared; max_tokens tokens with ignore_eos), and the
aggregate is the sum of usage.completion_tokens over the wall time from the first send
to the last answer. Prints one line: streams, requests, tokens, seconds, tok/s.

Usage: bench-peer-client.py URL STREAMS [--max-tokens 64] [--requests 1] [--model NAME]
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse


def one_request(url, body, timeout):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {data[:200]!r}")
        return int(json.loads(data)["usage"]["completion_tokens"])
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("streams", type=int)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--requests", type=int, default=1, help="requests per stream, one after the other")
    ap.add_argument("--model", default="model")
    ap.add_argument("--timeout-s", type=float, default=1800)
    a = ap.parse_args()
    tokens = [0] * a.streams
    errors = []
    start = threading.Barrier(a.streams + 1)

    def stream(i):
        start.wait()
        for k in range(a.requests):
            body = {"model": a.model, "prompt": f"Story {i}.{k}: once upon a time, in a town by the sea,",
                    "max_tokens": a.max_tokens, "temperature": 0, "ignore_eos": True, "stream": False}
            try:
                tokens[i] += one_request(a.url, body, a.timeout_s)
            except Exception as e:  # reported below; the run then fails
                errors.append(f"stream {i}: {e}")
                return

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(a.streams)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    total = sum(tokens)
    print(f"streams={a.streams} requests={a.streams * a.requests} tokens={total} seconds={dt:.2f} tok_s={total / dt:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
