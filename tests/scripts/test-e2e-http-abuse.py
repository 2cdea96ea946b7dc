# label: e2e
"""HTTP abuse against a running 2-rank server (issue 19 point 6), while a well-behaved
client keeps sending completions: slowloris (hundreds of half-open connections dripping
header bytes, reopened when closed), oversized headers and bodies, invalid UTF-8,
deeply nested JSON, a wrong type in every field of both endpoints, huge n / max_tokens /
logprobs, thousands of stop strings, pipelined requests, and requests aborted half-way
(mid-head, mid-body, mid-stream). Each abuse gets its 4xx (the status named below) or,
for aborts, nothing; the well-behaved client gets 200 for every request throughout
(success, not latency: the latency under slowloris is measured by
tools/bench-slowloris.py), the server still answers /health and the same greedy text at
the end, no request is left running, and stop_server.sh leaves no process."""
import json
import socket
import time

from httpabuse import Polite, Slowloris, raw_exchange, status_of
from serverlib import Server, processes_of
from testlib import Checks, need_shared

gguf = need_shared("stories260K", "stories260K.gguf")
c = Checks()
GREEDY = {"prompt": "Once upon a time", "max_tokens": 12, "temperature": 0}

srv = Server(gguf, args=["--header-timeout-s", "4", "--max-connections-per-client", "64"])
polite = Polite(srv.port)
try:
    st, _, b = srv.request("POST", "/v1/completions", GREEDY)
    c.check(st == 200, f"the server answers ({st})")
    reference = b["choices"][0]["text"] if st == 200 else None
    polite.start()

    def post(path, raw, headers=None, timeout=30):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        conn = srv.conn(timeout)
        conn.request("POST", path, body=raw, headers=h)
        r = conn.getresponse()
        text = r.read().decode("utf-8", errors="replace")
        conn.close()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text

    def err_param(b):
        return b.get("error", {}).get("param") if isinstance(b, dict) else None

    # --- slowloris: 360 half-open connections from 6 addresses for 12 s ---
    sl = Slowloris(srv.port, n=360, addrs=6, drip=1.0)
    sl.start()
    time.sleep(2.0)
    held = sl.open_now()
    t0 = time.time()
    seen = len(polite.results)
    while time.time() - t0 < 10:
        time.sleep(0.5)
    st_h, _, _ = srv.request("GET", "/health", timeout=20)
    sl.stop_flag = True
    sl.join(30)
    during = polite.results[seen:]
    c.check(held >= 300, f"slowloris: {held} half-open connections held open at once")
    c.check(sl.closed_by_server >= 300,
            f"slowloris: the header deadline closed them ({sl.closed_by_server} closed, reopened each time)")
    c.check(st_h == 200, f"slowloris: /health answers meanwhile ({st_h})")
    c.check(len(during) >= 3 and all(s == 200 for s, _ in during),
            f"slowloris: the well-behaved client was served throughout ({len(during)} requests, "
            f"{sorted({s for s, _ in during}, key=str)})")

    # --- oversized heads and bodies ---
    big_header = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    c.check(status_of(raw_exchange(srv.port, big_header)) == 431, "a 100 KB header → 431")
    many = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(5000)) + b"\r\n"
    c.check(status_of(raw_exchange(srv.port, many)) == 431, "5000 header fields → 431")
    long_target = b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    c.check(status_of(raw_exchange(srv.port, long_target)) in (414, 431), "a 70 KB request target → 414/431")
    big_len = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9000000\r\n\r\n"
    c.check(status_of(raw_exchange(srv.port, big_len + b"{")) == 413, "Content-Length of 9 MB → 413 before the body")
    chunked = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"".join(b"100000\r\n" + b"a" * 0x100000 + b"\r\n" for _ in range(9)) + b"0\r\n\r\n")
    c.check(status_of(raw_exchange(srv.port, chunked, timeout=30)) == 413, "a 9 MB chunked body → 413")
    huge_prompt = json.dumps({"prompt": "once " * 200_000, "max_tokens": 4}).encode()
    st, b = post("/v1/completions", huge_prompt)
    c.check(st == 400 and "context" in json.dumps(b), f"a 1 MB prompt → 400 context length ({st})")
    bad_len = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n{}"
    c.check(status_of(raw_exchange(srv.port, bad_len)) == 400, "a malformed Content-Length → 400")
    two_len = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
    c.check(status_of(raw_exchange(srv.port, two_len)) == 400, "two different Content-Length fields → 400")

    # --- invalid UTF-8 and deep nesting ---
    for what, raw in {"invalid UTF-8 in a string": b'{"prompt": "a\xff\xfeb", "max_tokens": 2}',
                      "an overlong encoding": b'{"prompt": "\xc0\xaf", "max_tokens": 2}',
                      "a lone surrogate escape": b'{"prompt": "\\ud800", "max_tokens": 2}',
                      "a UTF-8 surrogate": b'{"prompt": "\xed\xa0\x80", "max_tokens": 2}',
                      "truncated JSON": b'{"prompt": "a", "max_tokens": ',
                      "not JSON": b"\x00\x01\x02",
                      "a JSON array": b"[1, 2]"}.items():
        st, b = post("/v1/completions", raw)
        c.check(st == 400, f"{what} → 400 ({st} {str(b)[:80]})")
    for depth in (1000, 100_000):
        for what, raw in {"arrays": b"[" * depth + b"]" * depth,
                          "objects": b'{"a":' * depth + b"1" + b"}" * depth,
                          "a field": b'{"prompt": "x", "stop": ' + b"[" * depth + b"]" * depth + b"}",
                          "chat content": b'{"messages": [{"role": "user", "content": ' + b"[" * depth + b"]" * depth
                                          + b"}]}"}.items():
            path = "/v1/chat/completions" if what == "chat content" else "/v1/completions"
            st, b = post(path, raw)
            c.check(st == 400, f"JSON {what} nested {depth} deep → 400 ({st})")

    # --- a wrong type in every field ---
    completion_fields = ["model", "prompt", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
                         "min_p", "presence_penalty", "frequency_penalty", "repetition_penalty", "seed", "stop",
                         "stop_token_ids", "ignore_eos", "stream", "stream_options", "logprobs", "echo", "n", "best_of",
                         "logit_bias", "suffix", "response_format", "user", "session_id", "return_token_ids",
                         "spec_decode"]
    chat_fields = [f for f in completion_fields if f not in ("prompt", "echo", "suffix", "best_of", "logprobs")] + [
        "messages", "logprobs", "top_logprobs", "tools", "tool_choice", "parallel_tool_calls"]
    NUM, BOOL, STR = ["x", {"k": 1}, [1], True], ["x", 3, {"k": 1}, [True]], [3, {"k": 1}, ["x"], True]
    wrong = {f: NUM for f in completion_fields + chat_fields}
    wrong.update({f: BOOL for f in ("ignore_eos", "stream", "echo", "return_token_ids", "spec_decode",
                                    "parallel_tool_calls")})
    wrong.update({f: STR for f in ("model", "user", "session_id", "suffix")})
    wrong.update({"prompt": [3.5, {"k": 1}, True, [{"k": 1}], [[1.5]], [["x"]]], "stop": [3, {"k": 1}, True, [3], [[]]],
                  "stop_token_ids": ["x", 3, {"k": 1}, ["x"], [1.5]], "stream_options": ["x", 3, [1], True, {"include_usage": "x"}],
                  "response_format": ["x", 3, [1], True, {"type": 3}], "logit_bias": ["x", 3, [1], True],
                  "messages": ["x", 3, {"k": 1}, [3], [{"role": 3, "content": "x"}], [{"role": "user", "content": 3}]],
                  "tools": ["x", 3, {"k": 1}, [3], [{"type": "function", "function": {"name": 3}}]],
                  "tool_choice": [3, True, ["x"], {"type": 3}]})
    wrong_chat = dict(wrong, logprobs=BOOL, top_logprobs=NUM)
    bad = []
    for path, fields, base, table in (("/v1/completions", completion_fields, {"prompt": "Once", "max_tokens": 2}, wrong),
                                      ("/v1/chat/completions", chat_fields,
                                       {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}, wrong_chat)):
        for f in fields:
            for v in table[f]:
                st, b = post(path, json.dumps(dict(base, **{f: v})).encode())
                if not (st == 400 and (err_param(b) or "").split("[")[0].split(".")[0] == f):
                    bad.append(f"{path} {f}={json.dumps(v)}: {st} param {err_param(b)}")
    c.check(not bad, f"a wrong type in any field → 400 naming the field ({len(bad)} not: {bad[:6]})")

    # --- huge values ---
    for f, v in {"n": 10**9, "max_tokens": 2**31, "max_tokens ": 10**30, "logprobs": 10**6, "best_of": 10**9,
                 "top_k": 2**40, "seed": 2**70, "stop_token_ids": [2**40]}.items():
        st, b = post("/v1/completions", json.dumps({"prompt": "Once", f.strip(): v}).encode())
        c.check(st == 400, f"{f.strip()}={v if len(str(v)) < 16 else str(v)[:12] + '…'} → 400 ({st} {err_param(b)})")
    st, b = post("/v1/chat/completions", json.dumps({"messages": [{"role": "user", "content": "Hi"}],
                                                    "logprobs": True, "top_logprobs": 10**6}).encode())
    c.check(st == 400, f"top_logprobs=10^6 → 400 ({st})")
    st, b = post("/v1/completions", json.dumps({"prompt": "Once", "stop": ["s%d" % i for i in range(5000)]}).encode())
    c.check(st == 400 and err_param(b) == "stop", f"5000 stop strings → 400 ({st} {err_param(b)})")
    st, b = post("/v1/completions", json.dumps({"prompt": "Once", "stop": ["x" * 100_000]}).encode())
    c.check(st in (200, 400), f"a 100 KB stop string → answered ({st})")
    st, b = post("/v1/completions", json.dumps({"prompt": [[1]] * 5000, "max_tokens": 1}).encode())
    c.check(st == 400, f"5000 prompts → 400 ({st})")
    st, b = post("/v1/chat/completions", json.dumps({"messages": [{"role": "user", "content": "Hi"}] * 20000,
                                                    "max_tokens": 1}).encode())
    c.check(st == 400, f"20000 chat messages (beyond the context) → 400 ({st})")

    # --- pipelining: 20 requests in one write, 20 answers in order ---
    reqs = b""
    for i in range(20):
        body = json.dumps({"prompt": "Once", "max_tokens": 1 + i % 3, "user": f"u{i}"}).encode()
        reqs += (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    reqs += b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    resp = raw_exchange(srv.port, reqs, timeout=60)
    c.check(resp.count(b"HTTP/1.1 200") == 21, f"20 pipelined requests + /health: 21 answers ({resp.count(b'HTTP/1.1 ')})")
    usage = [json.loads(part.split(b"\r\n\r\n", 1)[1].split(b"\n")[0])["usage"]["completion_tokens"]
             for part in resp.split(b"HTTP/1.1 200 OK")[1:21] if b"usage" in part]
    c.check(usage == [1 + i % 3 for i in range(20)][:len(usage)] and len(usage) == 20,
            f"pipelined answers come in request order ({usage})")

    # --- aborted requests ---
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 400, "ignore_eos": True, "stream": True}).encode()
    head = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % len(body))
    for _ in range(30):
        for data in (head[:20], head + body[: len(body) // 2]):  # mid-head, mid-body
            so = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            so.sendall(data)
            so.close()
        so = socket.create_connection(("127.0.0.1", srv.port), timeout=30)  # mid-stream
        so.sendall(head + body)
        try:
            so.recv(4096)
        except OSError:
            pass
        so.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        so.close()
    time.sleep(2.0)
    running = None
    for _ in range(50):
        s = srv.request("GET", "/admin/status")[2]
        running = s.get("scheduler", s).get("running") if isinstance(s, dict) else None
        m = srv.request("GET", "/metrics")[2]
        run_lines = [l for l in m.splitlines() if l.startswith("shardlm_requests_running")]
        if run_lines and float(run_lines[0].split()[-1]) == 0:
            running = 0
            break
        time.sleep(0.2)
    c.check(running == 0, f"the aborted streams were cancelled: no request left running ({running})")

    polite.stop_flag = True
    polite.join(60)
    res = polite.results
    c.check(len(res) >= 10 and all(s == 200 for s, _ in res),
            f"the well-behaved client got 200 for every one of its {len(res)} requests "
            f"({sorted({s for s, _ in res}, key=str)})")
    st, _, h = srv.request("GET", "/health")
    c.check(st == 200, f"/health ok at the end ({st})")
    st, _, b = srv.request("POST", "/v1/completions", GREEDY)
    c.check(st == 200 and b["choices"][0]["text"] == reference, "the same greedy text at the end")
finally:
    polite.stop_flag = True
    r = srv.stop()
c.check(r.returncode == 0 and not processes_of(srv.run_dir), "stop_server.sh: clean stop, no process left")
c.finish()
