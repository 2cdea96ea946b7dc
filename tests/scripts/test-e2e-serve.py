# label: e2e
"""The OpenAI-compatible server end to end: 2 ranks under mpirun on loopback, started
and stopped by the launch scripts, spoken to over HTTP. Checks the texts against the
reference greedy story, streaming against non-streaming, batching against one request
at a time, the prefix cache, the error objects, admin load/unload, metrics, and that
every rank is gone with its EXIT AUDIT line after stop_server.sh."""
import concurrent.futures as cf
import json
import os
import time

from serverlib import Server, processes_of
from testlib import Checks, need_shared

gguf = need_shared("stories260K", "stories260K.gguf")
expected = open(need_shared("stories260K", "expected-greedy-once-upon-a-time.txt")).read()
PROMPT = "Once upon a time"
ref_cont = expected[len(PROMPT):]
c = Checks()

srv = Server(gguf, ranks=2, args=["--max-queue", "64", "--max-num-seqs", "4", "--max-batch-tokens", "64"])
try:
    # --- health, models ---
    st, _, body = srv.request("GET", "/health")
    c.check(st == 200 and body.get("status") == "ok", f"/health 200 ok ({st} {body})")
    st, _, body = srv.request("GET", "/v1/models")
    c.check(st == 200 and body["object"] == "list" and body["data"][0]["id"] == "stories260K.gguf",
            f"/v1/models lists the model ({body})")

    # --- greedy completion matches the reference story ---
    req = {"model": "x", "prompt": PROMPT, "max_tokens": 60, "temperature": 0}
    st, _, body = srv.request("POST", "/v1/completions", req)
    text = body["choices"][0]["text"] if st == 200 else ""
    c.check(st == 200 and len(text) > 100 and ref_cont.startswith(text),
            f"greedy completion is the reference story ({st}: {text[:80]!r})")
    c.check(st == 200 and body["choices"][0]["finish_reason"] == "length" and body["usage"]["completion_tokens"] == 60
            and body["usage"]["prompt_tokens"] == 5 and body["object"] == "text_completion",
            f"finish_reason length, usage ({body.get('usage') if st == 200 else body})")

    # --- streaming gives the same text, a final finish_reason, usage and [DONE] ---
    st, chunks, done = srv.stream("/v1/completions", dict(req, stream_options={"include_usage": True}))
    stext = "".join(ch["choices"][0]["text"] for ch in chunks if ch.get("choices"))
    finals = [ch["choices"][0]["finish_reason"] for ch in chunks if ch.get("choices") and ch["choices"][0]["finish_reason"]]
    usage = [ch["usage"] for ch in chunks if ch.get("usage")]
    c.check(st == 200 and done and stext == text, f"streamed text equals the JSON text ({len(chunks)} chunks)")
    c.check(finals == ["length"] and usage and usage[-1]["completion_tokens"] == 60,
            f"stream ends with finish_reason and a usage chunk ({finals}, {usage})")

    # --- chat (no template in the file: ChatML fallback) ---
    st, _, body = srv.request("POST", "/v1/chat/completions",
                              {"messages": [{"role": "user", "content": "Tell me a story"}], "max_tokens": 20,
                               "temperature": 0})
    c.check(st == 200 and body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
            and isinstance(body["choices"][0]["message"]["content"], str) and body["usage"]["completion_tokens"] >= 1,
            f"chat completion ({st})")
    st, chunks, done = srv.stream("/v1/chat/completions",
                                  {"messages": [{"role": "user", "content": "Tell me a story"}], "max_tokens": 20,
                                   "temperature": 0})
    ctext = "".join(ch["choices"][0]["delta"].get("content") or "" for ch in chunks if ch.get("choices"))
    c.check(st == 200 and done and chunks[0]["choices"][0]["delta"].get("role") == "assistant"
            and ctext == body["choices"][0]["message"]["content"], "chat streaming equals chat JSON")

    # --- concurrency: batched requests give what each gives alone ---
    prompts = ["Once upon a time", "The little dog", "Lily and Ben went", "One day, a big bird", "Tom had a red ball",
               "The sun was hot", "A girl named Sue", "In the park"]
    alone = {}
    for p in prompts:
        st, _, b = srv.request("POST", "/v1/completions", {"prompt": p, "max_tokens": 40, "temperature": 0})
        alone[p] = b["choices"][0]["text"] if st == 200 else None

    def one(p):
        st, chunks, done = srv.stream("/v1/completions", {"prompt": p, "max_tokens": 40, "temperature": 0})
        if st != 200 or not done:
            return p, f"HTTP {st} done={done} {chunks[:1]}"
        return p, "".join(ch["choices"][0]["text"] for ch in chunks if ch.get("choices"))

    with cf.ThreadPoolExecutor(32) as ex:
        results = list(ex.map(one, prompts * 4))
    bad = [(p, t) for p, t in results if t != alone[p]]
    c.check(len(results) == 32 and not bad and None not in alone.values(),
            f"32 concurrent streams equal the sequential JSON answers ({bad[:2]})")

    # --- seeded sampling is reproducible; different seeds differ somewhere ---
    sreq = {"prompt": PROMPT, "max_tokens": 30, "temperature": 0.9, "top_p": 0.95, "seed": 42}
    a = srv.request("POST", "/v1/completions", sreq)[2]["choices"][0]["text"]
    b = srv.request("POST", "/v1/completions", sreq)[2]["choices"][0]["text"]
    others = {srv.request("POST", "/v1/completions", dict(sreq, seed=s))[2]["choices"][0]["text"] for s in range(5)}
    c.check(a == b and len(others) > 1, "same seed → same text; other seeds vary")

    # --- penalties change greedy text; stop strings cut it ---
    st, _, pen = srv.request("POST", "/v1/completions", dict(req, frequency_penalty=2.0))
    c.check(st == 200 and pen["choices"][0]["text"] != text, "frequency_penalty changes the greedy text")
    stop_at = text.find("Lily")
    st, _, body = srv.request("POST", "/v1/completions", dict(req, stop=["Lily"]))
    c.check(st == 200 and body["choices"][0]["text"] == text[:stop_at] and body["choices"][0]["finish_reason"] == "stop",
            f"stop string ends the text before it ({body['choices'][0]['text']!r})")

    # --- logprobs ---
    st, _, body = srv.request("POST", "/v1/completions", dict(req, max_tokens=5, logprobs=3))
    lp = body["choices"][0]["logprobs"] if st == 200 else None
    c.check(lp and len(lp["tokens"]) == 5 and all(len(t) == 3 for t in lp["top_logprobs"])
            and all(x <= 0 for x in lp["token_logprobs"]), f"logprobs with 3 alternatives ({lp and lp['top_logprobs'][0]})")

    # --- prefix cache: a long repeated prompt reports cached tokens ---
    long_prompt = expected[:600]
    srv.request("POST", "/v1/completions", {"prompt": long_prompt, "max_tokens": 4, "temperature": 0})
    st, _, body = srv.request("POST", "/v1/completions", {"prompt": long_prompt, "max_tokens": 4, "temperature": 0})
    cached = body["usage"].get("prompt_tokens_details", {}).get("cached_tokens", 0) if st == 200 else 0
    c.check(cached >= 16 and cached < body["usage"]["prompt_tokens"], f"repeated prompt: cached_tokens {cached}")

    # --- errors ---
    def err(method, path, want, what, **kw):
        st, h, body = srv.request(method, path, **kw)
        ok = st == want and isinstance(body, dict) and "message" in body.get("error", {}) and "type" in body["error"]
        c.check(ok, f"{what}: HTTP {st} (want {want}) {str(body)[:120]}")

    err("POST", "/v1/completions", 400, "malformed JSON", raw=b'{"prompt": "x",')
    err("POST", "/v1/completions", 400, "wrong type", body={"prompt": "x", "max_tokens": "ten"})
    err("POST", "/v1/completions", 400, "negative temperature", body={"prompt": "x", "temperature": -1})
    err("POST", "/v1/completions", 400, "prompt + max_tokens beyond the context", body={"prompt": "x", "max_tokens": 100000})
    err("POST", "/v1/chat/completions", 400, "empty messages", body={"messages": []})
    err("POST", "/v1/completions", 400, "invalid UTF-8", raw=b'{"prompt": "\xff\xfe"}')
    err("POST", "/v1/completions", 400, "token id outside the vocabulary", body={"prompt": [1, 99999]})
    err("GET", "/v1/nothing", 404, "unknown route")
    err("POST", "/v1/completions", 413, "body over the limit", raw=b'{"prompt": "' + b"a" * (9 << 20) + b'"}')

    # --- metrics and status ---
    st, h, text_m = srv.request("GET", "/metrics")
    c.check(st == 200 and "shardlm_generation_tokens_total" in text_m and "shardlm_time_to_first_token_seconds_bucket" in text_m
            and "shardlm_prefix_cache_hits_total" in text_m, "/metrics has the shardlm_ families")
    st, _, s = srv.request("GET", "/admin/status")
    c.check(st == 200 and s["status"] == "ready" and len(s["memory"]) == 2 and s["memory"][1]["model_bytes"] > 0
            and s["requests"]["total"] >= 20 and len(s["ranks"]) == 2, f"/admin/status per rank ({str(s)[:200]})")

    # --- unload / load ---
    st, _, _ = srv.request("POST", "/admin/unload")
    st2, _, h = srv.request("GET", "/health")
    st3, _, b3 = srv.request("POST", "/v1/completions", req)
    c.check(st == 200 and st2 == 503 and st3 == 503, f"after unload: health {st2}, completions {st3}")
    # /admin/load refuses any path with a ".." component (gguf may be ../shared/...).
    st, _, _ = srv.request("POST", "/admin/load", {"model": os.path.realpath(gguf)})
    st2, _, body = srv.request("POST", "/v1/completions", req)
    c.check(st == 200 and st2 == 200 and body["choices"][0]["text"] == text, "after load: the same greedy text")
finally:
    r = srv.stop()
log = srv.log()
audits = [l for l in log.splitlines() if "EXIT AUDIT" in l]
c.check(any("rank=0" in l and "cause=server_shutdown" in l for l in audits)
        and any("rank=1" in l and "cause=worker_loop_exit" in l for l in audits),
        f"EXIT AUDIT from both ranks ({audits})")
c.check(not processes_of(srv.run_dir), "no server process left")

# --- a client that disconnects cancels its request ---
# On a server of its own whose prompt steps take 8 tokens each and pause 400 ms on every
# rank (--test-prefill-delay-ms): a 12-step prompt keeps the request running for about
# 5 s whatever the machine's speed, so the disconnect lands while it runs. (A plain
# 2000-token request can finish before a loaded machine lets the HTTP thread see the
# closed connection; then it ends as "length" and nothing is cancelled.)
srv2 = Server(gguf, ranks=2, args=["--max-batch-tokens", "8", "--test-prefill-delay-ms", "400"])
try:
    conn = srv2.conn()
    conn.request("POST", "/v1/completions", body=json.dumps({"prompt": " ".join(["Once upon a time there was a little girl."] * 8),
                                                              "max_tokens": 1000, "stream": True, "temperature": 0,
                                                              "ignore_eos": True}),
                 headers={"Content-Type": "application/json"})
    t0, running = time.time(), 0
    while time.time() - t0 < 60 and running == 0:  # until the engine runs it (it is in its prompt then)
        running = srv2.request("GET", "/admin/status")[2]["requests"]["active"]
        time.sleep(0.05)
    conn.close()  # before any answer: the connection watch sees the client go
    deadline = time.time() + 30
    active, aborted = None, []
    while time.time() < deadline:
        active = srv2.request("GET", "/admin/status")[2]["requests"]["active"]
        aborted = [l for l in srv2.request("GET", "/metrics")[2].splitlines()
                   if l.startswith('shardlm_requests_finished_total{reason="abort"}')]
        if active == 0 and aborted and float(aborted[0].split()[-1]) >= 1:
            break
        time.sleep(0.2)
    c.check(running == 1 and active == 0 and "cancelled" in srv2.log() and aborted and float(aborted[0].split()[-1]) >= 1,
            f"disconnect cancels the request (it ran: {running}; active {active}, metrics: {aborted})")
finally:
    srv2.stop()
c.check(not processes_of(srv2.run_dir), "no server process left (the disconnect server)")
c.finish()
