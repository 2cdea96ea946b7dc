# label: e2e
"""`shardlm router` in front of 3 replicas of stories260K (1 rank each, each its own mpirun
job), started by launch/launch_replicas.sh and stopped by launch/stop_server.sh:
- proxied JSON and SSE (Python http.client and the official openai npm SDK) give the
  replicas' own greedy text; /v1/models merged; keys checked; sticky sessions and
  prefix-aware choice keep a conversation on one replica;
- a client abort cancels the upstream request;
- a replica killed mid-stream (completions and chat): the stream goes on on another
  replica and its text equals an uninterrupted greedy run (the oracle: the same request
  without streaming, straight to a replica); the killed replica's breaker opens, and
  closes once it is started again;
- every replica stopped: 503 with code no_workers_available."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import routerlib
from routerlib import port_block, wait_for
from testlib import BIN, RUN_DIRS, SOURCE, Checks, need_shared, skip

MODEL = need_shared("stories260K", "stories260K.gguf")
KEY = "test-key"
c = Checks()


PORT = port_block(3)
BACKENDS = [f"http://127.0.0.1:{PORT + 1 + i}" for i in range(3)]
RUN = tempfile.mkdtemp(prefix="shardlm-e2e-router-")
RUN_DIRS.append(RUN)
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", MODEL=MODEL, REPLICAS="3",
           RANKS="1", THREADS="1", PORT=str(PORT), BASE_PORT=str(PORT + 1), RUN_DIR=RUN, WAIT_S="120",
           SHARDLM_BIN=BIN, MPI_ARGS="--oversubscribe", STOP_TIMEOUT="60",
           ROUTER_ARGS=f"--api-key {KEY} --health-interval-s 0.2 --health-timeout-s 2 --breaker-failures 2 "
                       "--breaker-cooldown-s 1")
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


def request(port, method, path, body=None, headers=None, timeout=120):
    h = dict(AUTH if port == PORT else {})
    h.update(headers or {})
    return routerlib.request("127.0.0.1", port, method, path, body, h, timeout)


def status():
    return request(PORT, "GET", "/admin/status")[2]


def backend(url):
    return next(b for b in status()["backends"] if b["url"] == url)


def replica_pid(i):
    with open(os.path.join(RUN, f"replica{i}", "rank0.pid")) as f:
        return int(f.read().strip())


def start_replica(i):
    """As an operator would: stop_server.sh for what is left of it (mpirun), then launch it again."""
    stop_replica(i)
    env = dict(ENV, RUN_DIR=os.path.join(RUN, f"replica{i}"), PORT=str(PORT + 1 + i))
    r = subprocess.run(["bash", os.path.join(SOURCE, "launch", "launch_baseline.sh")], env=env, capture_output=True,
                       text=True, timeout=180)
    if r.returncode != 0:
        print(r.stderr[-3000:])
    return r.returncode == 0


def stop_replica(i):
    env = dict(ENV, RUN_DIR=os.path.join(RUN, f"replica{i}"))
    subprocess.run(["bash", os.path.join(SOURCE, "launch", "stop_server.sh")], env=env, capture_output=True, timeout=180)


def stream_kill(path, body):
    """Streams body through the router and kills the replica serving it mid-stream: SIGSTOP
    (frozen at once) and SIGKILL as soon as the first chunk is here, with hundreds of
    tokens still to come. Returns (text, error events, saw [DONE], the killed replica)."""
    conn, r = routerlib.open_stream("127.0.0.1", PORT, path, body, AUTH)
    if r.status != 200:
        print("stream answered", r.status, r.read()[:300])
        return "", [], False, None
    victim = BACKENDS.index(r.getheader("X-Shardlm-Backend"))
    pid = replica_pid(victim)

    def kill(n):
        if n == 1:
            os.kill(pid, signal.SIGSTOP)
            os.kill(pid, signal.SIGKILL)

    text, errors, done = routerlib.read_events(r, kill)
    conn.close()
    return text, errors, done, victim


def metric(name):
    return routerlib.metric("127.0.0.1", PORT, name)


def npm_client(reference):
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        print("SKIP (part): node/npm not found; the openai npm checks did not run")
        return
    work = os.path.join(os.path.dirname(os.environ.get("SHARDLM_TEST_MODELS", "/tmp/x")), "npm-router")
    os.makedirs(work, exist_ok=True)
    for f in ("package.json", "package-lock.json", "router-client.test.mjs"):
        shutil.copy(os.path.join(SOURCE, "tests", "npm", f), work)
    env = dict(os.environ, npm_config_cache=os.path.join(work, ".npm-cache"), npm_config_update_notifier="false",
               npm_config_fund="false", npm_config_audit="false")
    r = subprocess.run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=work, env=env,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        print(r.stdout[-2000:], r.stderr[-2000:])
        if subprocess.run([npm, "ping"], cwd=work, env=env, capture_output=True, timeout=30).returncode != 0:
            print("SKIP (part): npm ci failed and the registry is unreachable; the openai npm checks did not run")
            return
        c.check(False, "npm ci of the openai client")
        return
    env.update(SHARDLM_URL=f"http://127.0.0.1:{PORT}", SHARDLM_API_KEY=KEY, SHARDLM_MODEL_ID="stories260K.gguf",
               SHARDLM_REFERENCE=reference)
    r = subprocess.run([node, "--test", "--test-reporter=spec", "router-client.test.mjs"], cwd=work, env=env,
                       capture_output=True, text=True, timeout=600)
    print(r.stdout[-6000:], r.stderr[-3000:])
    c.check(r.returncode == 0, "the official openai npm client through the router (JSON, streams, chat, abort)")


def main():
    r = subprocess.run(["bash", os.path.join(SOURCE, "launch", "launch_replicas.sh")], env=ENV, capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        print(r.stderr[-4000:])
        c.check(False, "launch_replicas.sh started 3 replicas and the router")
        return
    c.check(wait_for("3 backends up", lambda: status()["backends_up"] == 3), "the router sees 3 backends up")
    st, _, body = request(PORT, "GET", "/health")
    c.check(st == 200 and body["backends_up"] == 3, f"router /health: {st} {body}")
    st, _, body = request(PORT, "GET", "/v1/models")
    c.check(st == 200 and [m["id"] for m in body["data"]] == ["stories260K.gguf"], f"/v1/models merged: {body}")
    st, _, _ = request(PORT, "POST", "/v1/completions", {"prompt": "x"}, headers={"Authorization": "Bearer wrong"})
    c.check(st == 401, f"a wrong key gets 401 from the router: {st}")

    # Reference texts straight from a replica.
    comp = {"prompt": "Once upon a time", "max_tokens": 40, "temperature": 0}
    ref = request(PORT + 1, "POST", "/v1/completions", comp)[2]["choices"][0]["text"]
    st, hdr, body = request(PORT, "POST", "/v1/completions", comp)
    c.check(st == 200 and body["choices"][0]["text"] == ref, "a JSON completion through the router = the replica's")
    c.check(hdr.get("x-shardlm-backend") in BACKENDS, f"the answer names its backend: {hdr.get('x-shardlm-backend')}")

    # Sticky sessions: a conversation stays on one replica.
    seen = set()
    for turn in range(4):
        st, hdr, _ = request(PORT, "POST", "/v1/completions", dict(comp, max_tokens=4, session_id="conv-1",
                                                                   prompt=f"Turn {turn}: once"))
        seen.add(hdr.get("x-shardlm-backend"))
    c.check(len(seen) == 1, f"session_id keeps one backend: {seen}")
    seen = set()
    for turn in range(3):
        st, hdr, _ = request(PORT, "POST", "/v1/completions", dict(comp, max_tokens=4, prompt=f"t{turn}"),
                             headers={"X-Session-ID": "conv-2"})
        seen.add(hdr.get("x-shardlm-backend"))
    c.check(len(seen) == 1, f"X-Session-ID keeps one backend: {seen}")
    c.check(status()["sessions"] >= 2, "the registry holds the sessions")
    long_prefix = "Once upon a time, in a small village by the sea, there lived a girl who loved boats. " * 4
    seen = set()
    for k in range(4):
        st, hdr, _ = request(PORT, "POST", "/v1/completions", dict(comp, max_tokens=2, prompt=long_prefix + f" Day {k}."))
        seen.add(hdr.get("x-shardlm-backend"))
    c.check(len(seen) == 1, f"one long shared prefix goes to one backend (one at a time): {seen}")

    npm_client(ref)
    c.check(wait_for("no requests left on the replicas",
                     lambda: all(b["in_flight"] == 0 and (b["load"] or {}).get("running", 0) == 0
                                 for b in status()["backends"]), 60),
            "after the client abort the replicas run nothing (the upstream request was cancelled)")

    # Failover mid-stream: completions.
    # The oracle runs on every replica: they agree, and each then holds the sequence in its
    # prefix cache, so the continuation's prompt reuses KV made by decoding as in the
    # uninterrupted run (a cold replica's batched prefill may round differently and flip
    # a near-tie of this tiny model hundreds of tokens later: an engine property, not the
    # router's splice).
    long_req = {"prompt": "Once upon a time", "max_tokens": 1000, "temperature": 0, "ignore_eos": True}
    refs = [request(PORT + 1 + i, "POST", "/v1/completions", long_req)[2]["choices"][0]["text"] for i in range(3)]
    c.check(len(set(refs)) == 1, "the replicas agree on the greedy text")
    ref_long = refs[0]
    migrations0 = metric("shardlm_router_migrations_total")
    text, errors, done, victim = stream_kill("/v1/completions", long_req)
    c.check(victim is not None and done and not errors, f"the stream finished after its replica was killed: done={done} errors={errors}")
    c.check(text == ref_long, "its text equals the uninterrupted greedy run"
            + ("" if text == ref_long else f"\n got: {text!r}\nwant: {ref_long!r}"))
    c.check(metric("shardlm_router_migrations_total") == migrations0 + 1, "one migration counted")
    if victim is None:
        return
    url = BACKENDS[victim]
    c.check(wait_for("the killed replica's breaker open", lambda: backend(url)["breaker"]["state"] != "closed", 60),
            f"the killed replica's breaker opened: {backend(url)['breaker']}")
    c.check(backend(url)["state"] == "down", "and it is down")

    # Failover mid-stream: chat (continued through /v1/completions with token ids).
    chat = {"messages": [{"role": "user", "content": "Tell me a story"}], "max_tokens": 800, "temperature": 0,
            "ignore_eos": True}
    refs = [request(PORT + 1 + i, "POST", "/v1/chat/completions", chat)[2]["choices"][0]["message"]["content"]
            for i in range(3) if i != victim]
    ref_chat = refs[0]
    text, errors, done, victim2 = stream_kill("/v1/chat/completions", chat)
    c.check(victim2 is not None and done and not errors, f"the chat stream finished after its replica was killed: {errors}")
    c.check(text == ref_chat, "its text equals the uninterrupted greedy chat"
            + ("" if text == ref_chat else f"\n got: {text!r}\nwant: {ref_chat!r}"))

    # The killed replicas come back: up, breaker closed (the health probe / warm-up).
    for i in {victim, victim2} - {None}:
        c.check(start_replica(i), f"replica {i} started again")
        c.check(wait_for(f"replica {i} up with a closed breaker",
                         lambda: backend(BACKENDS[i])["state"] == "up" and backend(BACKENDS[i])["breaker"]["state"] == "closed", 90),
                f"replica {i}: up again, breaker closed (opened {backend(BACKENDS[i])['breaker']['opened']} time(s))")
    st, _, body = request(PORT, "POST", "/v1/completions", comp)
    c.check(st == 200 and body["choices"][0]["text"] == ref, "requests succeed after the recovery")

    # Everything stopped: 503 no_workers_available.
    for i in range(3):
        stop_replica(i)
    c.check(wait_for("no backend up", lambda: request(PORT, "GET", "/health")[0] == 503, 60), "router /health is 503 with every replica stopped")
    st, hdr, body = request(PORT, "POST", "/v1/completions", comp)
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    c.check(st == 503 and code == "no_workers_available", f"a request then gets 503 no_workers_available: {st} {body}")
    st, hdr, body = request(PORT, "POST", "/v1/chat/completions", dict(chat, stream=True))
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    c.check(st == 503 and code == "no_workers_available" and hdr.get("retry-after"), f"a stream too, with Retry-After: {st}")


def leftovers():
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"shardlm") and any(RUN.encode() in a for a in cmd):
            out.append(int(pid))
    return out


try:
    main()
finally:
    r = subprocess.run(["bash", os.path.join(SOURCE, "launch", "stop_server.sh")], env=ENV, capture_output=True,
                       text=True, timeout=400)
    time.sleep(0.5)
    left = leftovers()
    c.check(not left, f"stop_server.sh stopped the router and every replica (left: {left})")
    if c.failed:
        for name in ["router.log"] + [f"replica{i}/server.log" for i in range(3)]:
            try:
                print(f"---- {name} ----\n" + open(os.path.join(RUN, name), errors="replace").read()[-3000:])
            except OSError:
                pass
c.finish()
