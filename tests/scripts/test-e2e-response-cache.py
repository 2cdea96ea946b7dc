# label: e2e
"""Response cache on a 2-rank server (--response-cache-mb): an identical deterministic
request is answered from the cache with the same JSON body and the same SSE chunk
sequence (only id, created and usage.cached_tokens differ, by design), in either form
whichever form computed it; every near-identical request (one field changed) is
computed, and equals the same request sent with `Cache-Control: no-store`; no-cache
computes afresh; sampled requests without a seed are never cached; identical requests in
flight share one computation; /health, /admin/status and /metrics count it; unloading
the model empties it."""
import concurrent.futures as cf
import glob
import http.client
import json
import os
import re
import subprocess
import tempfile

from serverlib import Server
from testlib import BIN, Checks, need_shared

stories = need_shared("stories260K", "stories260K.gguf")
c = Checks()
srv = Server(stories, args=["--response-cache-mb", "8", "--max-num-seqs", "8"])


def raw(path, body, headers=None, timeout=120):
    """(status, X-Response-Cache, body bytes) of one POST."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    conn.request("POST", path, body=json.dumps(body).encode(), headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, r.getheader("X-Response-Cache"), data


def per_response(data):
    """The body with what is per response masked: the id, created, and cached_tokens."""
    s = data.decode()
    s = re.sub(r'"id":"[^"]*"', '"id":"*"', s)
    s = re.sub(r'"created":\d+', '"created":0', s)
    return re.sub(r'"cached_tokens":\d+', '"cached_tokens":0', s)


def metric(name):
    text = srv.request("GET", "/metrics")[2]
    m = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


CMP = "/v1/completions"
CHAT = "/v1/chat/completions"
base = {"prompt": "Once upon a time", "max_tokens": 48, "temperature": 0}

try:
    # 1. JSON: computed, then answered from the cache with the same body.
    st1, h1, b1 = raw(CMP, base)
    st2, h2, b2 = raw(CMP, base)
    c.check(st1 == st2 == 200 and h1 == "miss" and h2 == "hit", f"JSON: miss then hit ({h1}, {h2})")
    c.check(per_response(b1) == per_response(b2), "JSON: the cached body equals the computed one")
    j1, j2 = json.loads(b1), json.loads(b2)
    c.check(j1["id"] != j2["id"], "JSON: the cached answer has its own response id")
    u2 = j2["usage"]
    c.check(u2["prompt_tokens"] == j1["usage"]["prompt_tokens"] and u2["completion_tokens"] == j1["usage"]["completion_tokens"]
            and u2.get("prompt_tokens_details", {}).get("cached_tokens") == u2["prompt_tokens"],
            f"JSON: usage of the cached answer is truthful ({u2})")

    # 2. SSE: the stream replayed from the cache has the same chunk sequence as a stream
    # computed without the cache (no-store), and as one computed by the cache.
    sbody = dict(base, stream=True, stream_options={"include_usage": True})
    st, h_replay, s_replay = raw(CMP, sbody)  # answered from the JSON request's events
    _, h_fresh, s_fresh = raw(CMP, sbody, {"Cache-Control": "no-store"})
    c.check(h_replay == "hit" and h_fresh == "bypass", f"SSE: hit from the JSON answer, no-store bypasses ({h_replay}, {h_fresh})")
    c.check(per_response(s_replay) == per_response(s_fresh) and s_replay.count(b"data: ") > 10,
            "SSE: the replayed chunk sequence equals a computed stream")
    text = "".join(json.loads(l[6:])["choices"][0]["text"] for l in s_fresh.decode().split("\n")
                   if l.startswith("data: {") and json.loads(l[6:])["choices"])
    c.check(text == j1["choices"][0]["text"], "SSE: the streamed text equals the JSON text")
    sb2 = dict(base, prompt="The little dog", stream=True)
    _, hs1, ss1 = raw(CMP, sb2)
    _, hs2, ss2 = raw(CMP, sb2)
    _, hj, bj = raw(CMP, dict(sb2, stream=False))
    c.check(hs1 == "miss" and hs2 == "hit" and hj == "hit" and per_response(ss1) == per_response(ss2),
            f"SSE: a computed stream is replayed identically, and answers JSON too ({hs1}, {hs2}, {hj})")

    # 3. Near-identical requests: each one field away is computed, never answered with
    # another request's text, and equals its own uncached computation.
    variants = {
        "max_tokens": dict(base, max_tokens=47),
        "prompt": dict(base, prompt="Once upon a time,"),
        "stop": dict(base, stop=["."]),
        "temperature with seed": dict(base, temperature=0.7, seed=3),
        "seed": dict(base, temperature=0.7, seed=4),
        "top_k": dict(base, top_k=5),
        "presence_penalty": dict(base, presence_penalty=0.5),
        "frequency_penalty": dict(base, frequency_penalty=0.5),
        "repetition_penalty": dict(base, repetition_penalty=1.3),
        "logprobs": dict(base, logprobs=2),
        "echo": dict(base, echo=True),
        "stop_token_ids": dict(base, stop_token_ids=[13]),
        "ignore_eos": dict(base, ignore_eos=True),
        "response_format": dict(base, response_format={"type": "text"}),
        "an unknown field": dict(base, some_future_field=1),
        "max_tokens absent": {k: v for k, v in base.items() if k != "max_tokens"},
    }
    for name, body in variants.items():
        st, h, got = raw(CMP, body)
        _, hn, want = raw(CMP, body, {"Cache-Control": "no-store"})
        c.check(st == 200 and h == "miss" and hn == "bypass" and per_response(got) == per_response(want),
                f"one field changed ({name}): computed ({h}), equal to its uncached answer")
    st, h, _ = raw(CMP, dict(base, temperature=0.7, seed=3))
    c.check(h == "hit", f"a seeded sampled request is cached ({h})")
    st, h, _ = raw(CMP, dict(base, temperature=0.7))
    st, h2, _ = raw(CMP, dict(base, temperature=0.7))
    c.check(h == h2 == "bypass", f"a sampled request without a seed is never cached ({h}, {h2})")
    no_temp = {k: v for k, v in base.items() if k != "temperature"}
    st, h, _ = raw(CMP, dict(no_temp, seed=1))
    c.check(h == "miss", f"an absent temperature is not 0 ({h})")
    st, h, _ = raw(CMP, dict(base, user="someone", stream=False, stream_options=None))
    c.check(h == "hit", f"user and framing fields do not change the key ({h})")

    # Chat: the same messages hit; one word changed does not.
    msgs = {"messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 32, "temperature": 0}
    _, hc1, bc1 = raw(CHAT, msgs)
    _, hc2, bc2 = raw(CHAT, msgs)
    _, hc3, _ = raw(CHAT, {**msgs, "messages": [{"role": "user", "content": "Tell me a tale."}]})
    _, hc4, _ = raw(CHAT, {**msgs, "messages": [{"role": "system", "content": "Be brief."}] + msgs["messages"]})
    c.check((hc1, hc2, hc3, hc4) == ("miss", "hit", "miss", "miss") and per_response(bc1) == per_response(bc2),
            f"chat: identical messages hit, changed messages miss ({hc1}, {hc2}, {hc3}, {hc4})")

    # 4. Cache-Control: no-cache computes afresh (and refreshes), no-store leaves it alone.
    _, h, _ = raw(CMP, base, {"Cache-Control": "no-cache"})
    _, h2, _ = raw(CMP, base, {"Cache-Control": "max-age=0, No-Cache"})
    _, h3, _ = raw(CMP, base)
    c.check((h, h2, h3) == ("miss", "miss", "hit"), f"Cache-Control no-cache recomputes ({h}, {h2}, {h3})")

    # 5. Identical requests in flight: one computation.
    gen0 = metric("shardlm_generation_tokens_total")
    co0 = metric("shardlm_response_cache_coalesced_total")
    burst = {"prompt": "Lily and Ben went", "max_tokens": 300, "temperature": 0, "ignore_eos": True}
    with cf.ThreadPoolExecutor(6) as ex:
        got = list(ex.map(lambda _: raw(CMP, burst), range(6)))
    heads = sorted(h for _, h, _ in got)
    texts = {json.loads(b)["choices"][0]["text"] for _, _, b in got}
    gen1 = metric("shardlm_generation_tokens_total")
    co1 = metric("shardlm_response_cache_coalesced_total")
    c.check(all(st == 200 for st, _, _ in got) and len(texts) == 1, "burst: six identical requests, one text")
    c.check(heads.count("miss") == 1 and gen1 - gen0 == 300 and (co1 - co0) + heads.count("hit") == 5,
            f"burst: computed once ({heads}, {gen1 - gen0:.0f} tokens generated)")

    # 6. Counters in /health, /admin/status and /metrics.
    health = srv.request("GET", "/health")[2]
    status = srv.request("GET", "/admin/status")[2]
    rc = status["response_cache"]
    c.check(health["response_cache"]["hits"] >= 6 and health["response_cache"]["misses"] >= 10,
            f"/health counts hits and misses ({health['response_cache']})")
    c.check(rc["enabled"] and rc["entries"] > 10 and rc["bytes"] > 0 and rc["in_flight"] == 0,
            f"/admin/status shows the cache ({rc})")
    c.check(metric("shardlm_response_cache_hits_total") == rc["hits"] and metric("shardlm_response_cache_entries") == rc["entries"],
            "/metrics agrees with /admin/status")

    # 7. shardlm-bench reuse-verify: identical texts and the cache's signals.
    bench = os.path.join(os.path.dirname(BIN), "shardlm-bench")
    out = tempfile.mkdtemp(prefix="shardlm-reuse-")
    r = subprocess.run([bench, "reuse-verify", "--url", f"http://127.0.0.1:{srv.port}", "--out", out, "--no-progress",
                        "--requests", "2", "--max-tokens", "24"], capture_output=True, text=True, timeout=300)
    summ = glob.glob(os.path.join(out, "run", "reuse-verify-*", "summary.json"))
    d = json.load(open(summ[0]))["scenario_data"]["reuse-verify"] if summ else {}
    c.check(r.returncode == 0 and d.get("response_cache") is True and d.get("texts_equal") == d.get("texts") == 12,
            f"shardlm-bench reuse-verify passes its checks (exit {r.returncode}, {d}) {r.stderr[-400:] if r.returncode else ''}")

    # 8. Unloading the model empties the cache; after a reload the request is computed.
    st, _, _ = srv.request("POST", "/admin/unload")
    st2, _, _ = srv.request("POST", "/admin/load", {})
    rc = srv.request("GET", "/admin/status")[2]["response_cache"]
    _, h, b = raw(CMP, base)
    c.check(st == st2 == 200 and rc["entries"] == 0 and h == "miss" and per_response(b) == per_response(b1),
            f"unload + load empties the cache ({rc['entries']} entries, then {h})")
finally:
    srv.stop()

c.finish()
