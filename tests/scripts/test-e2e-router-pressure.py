# label: e2e
"""Backpressure through `shardlm router` (2 replicas of stories260K, 1 rank each):
- every replica full (`--max-num-seqs 1 --max-queue 1`): a burst of parallel streams gets
  only 200s and 429s from the router, at least one 429, each 429 with Retry-After and the
  OpenAI rate-limit error; every 200 stream is whole and its text equals the greedy
  oracle (the same request without streaming, straight to a replica, afterwards);
- memory pressure (a KV pool of a few blocks per replica, `--max-pinned-gb` tiny, sticky
  sessions pinning their blocks): the burst again gets only 200s and 429s, never a
  crash: each replica's process is the same one before and after, /health is 200, and
  its RSS grew by less than 256 MiB;
- after each burst (and its Retry-After) every request succeeds again."""
import json
import os
import tempfile
import threading
import time

from routerlib import (leftovers, metric, open_stream, port_block, read_events, replica_pid, request, rss_kb,
                       launch_replica, start_router, stop_replica, wait_for)
from testlib import RUN_DIRS, Checks, need_shared

MODEL = need_shared("stories260K", "stories260K.gguf")
H = "127.0.0.1"
c = Checks()
PORT = port_block(2)
RUN = tempfile.mkdtemp(prefix="shardlm-e2e-router-pressure-")
RUN_DIRS.append(RUN)
REQ = {"prompt": "Once upon a time", "max_tokens": 300, "temperature": 0, "ignore_eos": True}
BURST = 12
ROUTERS = []


def burst(body_for):
    """BURST streams at once through the router: [(status, headers, text, errors, done, body)]."""
    out = [None] * BURST
    gate = threading.Barrier(BURST)

    def one(i):
        gate.wait()
        body = body_for(i)
        try:
            conn, r = open_stream(H, PORT, "/v1/completions", body)
        except OSError as e:
            out[i] = (0, {}, "", [repr(e)], False, body)
            return
        hdr = {k.lower(): v for k, v in r.getheaders()}
        if r.status != 200:
            raw = r.read().decode("utf-8", "replace")
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw
            out[i] = (r.status, hdr, payload, [], False, body)
        else:
            text, errors, done = read_events(r)
            out[i] = (200, hdr, text, errors, done, body)
        conn.close()

    ts = [threading.Thread(target=one, args=(i,)) for i in range(BURST)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    return out


def check_burst(what, res, oracle_port, must_fill):
    """must_fill: the burst exceeds what the replicas can hold (running + queue), so some
    answers must be 429. Under memory pressure alone, whether a replica queues, preempts or
    refuses depends on how fast it serves the burst: there only 200 and 429 are required."""
    codes = [r[0] for r in res]
    c.check(all(x in (200, 429) for x in codes), f"{what}: only 200 and 429 ({codes})")
    n429 = codes.count(429)
    if must_fill:
        c.check(n429 > 0, f"{what}: at least one 429 ({n429} of {BURST})")
    else:
        print(f"{what}: {n429} of {BURST} answered 429")
    for st, hdr, payload, _, _, _ in res:
        if st == 429:
            err = payload.get("error", {}) if isinstance(payload, dict) else {}
            ok = hdr.get("retry-after", "").isdigit() and int(hdr["retry-after"]) >= 1 and err.get("type") == "rate_limit_error"
            c.check(ok, f"{what}: a 429 has Retry-After and a rate_limit_error ({hdr.get('retry-after')}, {err})")
            break
    oracles = {}
    for st, _, text, errors, done, body in res:
        if st != 200:
            continue
        key = json.dumps(body, sort_keys=True)
        if key not in oracles:
            plain = {k: v for k, v in body.items() if k not in ("session_id",)}
            oracles[key] = request(H, oracle_port, "POST", "/v1/completions", plain)[2]["choices"][0]["text"]
        if not (done and not errors and text == oracles[key]):
            c.check(False, f"{what}: a 200 stream is whole and equals the greedy oracle (done={done} errors={errors})")
            return
    c.check(codes.count(200) > 0, f"{what}: every one of the {codes.count(200)} 200 streams is whole = the oracle")


def recovered(what, res):
    # A client honours Retry-After: the router keeps a full backend out that long.
    time.sleep(max([int(r[1].get("retry-after", 0)) for r in res if r[0] == 429] + [0]))
    for k in range(4):
        st, _, body = request(H, PORT, "POST", "/v1/completions", dict(REQ, max_tokens=8))
        if st != 200:
            c.check(False, f"{what}: requests succeed after the burst ({st} {body})")
            return
    c.check(True, f"{what}: requests succeed after the burst")


def run_case(name, serve_args, body_for, must_fill, router_args=()):
    dirs = [os.path.join(RUN, name, f"replica{i}") for i in range(2)]
    ports = [PORT + 1 + i for i in range(2)]
    ok = all(launch_replica(d, p, serve_args=serve_args, env={"MODEL": MODEL}) for d, p in zip(dirs, ports))
    c.check(ok, f"{name}: 2 replicas started ({' '.join(serve_args)})")
    if not ok:
        return dirs
    pids = [replica_pid(d) for d in dirs]
    rss0 = [rss_kb(p) for p in pids]
    router = start_router(PORT, [f"http://{H}:{p}" for p in ports],
                          ["--health-interval-s", "0.2", "--prefix-block-bytes", "0"] + list(router_args),
                          log=os.path.join(RUN, name, "router.log"))
    ROUTERS.append(router)
    c.check(wait_for("2 backends up", lambda: request(H, PORT, "GET", "/admin/status")[2]["backends_up"] == 2),
            f"{name}: the router sees 2 backends up")
    full0 = metric(H, PORT, "shardlm_router_all_full_total")
    res = burst(body_for)
    check_burst(name, res, ports[0], must_fill)
    if must_fill or any(r[0] == 429 for r in res):
        c.check(metric(H, PORT, "shardlm_router_all_full_total") > full0, f"{name}: shardlm_router_all_full_total counted")
    for i, d in enumerate(dirs):
        same = replica_pid(d) == pids[i] and os.path.exists(f"/proc/{pids[i]}")
        health = request(H, ports[i], "GET", "/health")[0]
        rss1 = rss_kb(pids[i])
        grew = (rss1 - rss0[i]) / 1024 if rss1 and rss0[i] else None
        c.check(same and health == 200, f"{name}: replica {i} is the same process and healthy (health {health})")
        c.check(grew is not None and grew < 256, f"{name}: replica {i} RSS grew {grew} MiB (< 256)")
    recovered(name, res)
    router.terminate()
    c.check(router.wait(60) == 0, f"{name}: the router exits 0 on SIGTERM")
    return dirs


def main():
    # 1. Every replica at capacity: one running sequence, one waiting, the rest 429.
    dirs = run_case("full", ["--max-num-seqs", "1", "--max-queue", "1"], lambda i: dict(REQ), True)
    for d in dirs:
        stop_replica(d)
    # 2. Memory pressure: 24 KV blocks of 16 tokens per replica, sessions pinning theirs.
    dirs = run_case("memory", ["--max-num-seqs", "8", "--max-queue", "2", "--kv-blocks", "24",
                                  "--max-pinned-gb", "0.0001"],
                       lambda i: dict(REQ, prompt=f"Once upon a time, child {i % 3}", session_id=f"s{i}"), False)
    for d in dirs:
        stop_replica(d)


try:
    main()
finally:
    for r in ROUTERS:
        if r.poll() is None:
            r.kill()
            r.wait()
    for name in ("full", "memory"):
        for i in range(2):
            d = os.path.join(RUN, name, f"replica{i}")
            if os.path.exists(os.path.join(d, "mpirun.pid")):
                stop_replica(d)
    left = leftovers(RUN)
    c.check(not left, f"no shardlm process left ({left})")
c.finish()
