# label: e2e
"""Graceful drain of `shardlm router` on SIGTERM (one replica of stories260K, 1 rank):
- streams in flight when SIGTERM arrives (sent to a replica frozen with SIGSTOP, so the
  drain is certain to find them running; it runs again after the checks below): the listener closes (a new
  connection is refused), a request on a keep-alive connection opened before gets 503
  code shutting_down, /health on it 503; once the replica runs again the streams end
  whole with [DONE] and their text equals the greedy oracle; the router exits 0;
- the drain is bounded: a stream whose replica stays frozen is cut after
  --drain-timeout-s and the router still exits 0 (and the client's stream ends without
  [DONE], not hanging);
- a second SIGTERM during a drain exits at once (status 128 + 15)."""
import http.client
import json
import os
import signal
import socket
import tempfile
import threading
import time

from routerlib import (leftovers, launch_replica, open_stream, port_block, read_events, replica_pid, request,
                       start_router, stop_replica, wait_for)
from testlib import RUN_DIRS, Checks, need_shared

MODEL = need_shared("stories260K", "stories260K.gguf")
H = "127.0.0.1"
c = Checks()
PORT = port_block(1)
RUN = tempfile.mkdtemp(prefix="shardlm-e2e-router-drain-")
RUN_DIRS.append(RUN)
REPLICA = os.path.join(RUN, "replica0")
BACKEND = f"http://{H}:{PORT + 1}"
REQ = {"prompt": "Once upon a time", "max_tokens": 600, "temperature": 0, "ignore_eos": True}
ROUTERS = []


def streams_frozen(n, body):
    """n streams through the router to the frozen replica (SIGSTOP first: nothing can finish
    before the test lets it), returned once the router has all n in flight upstream.
    Returns (threads, results: [(text, errors, done)])."""
    os.kill(replica_pid(REPLICA), signal.SIGSTOP)
    res = [None] * n

    def one(i):
        try:
            conn, r = open_stream(H, PORT, "/v1/completions", body, timeout=120)
            res[i] = read_events(r)
            conn.close()
        except (OSError, http.client.HTTPException) as e:
            res[i] = ("", [repr(e)], False)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    c.check(wait_for(f"{n} requests in flight", lambda: request(H, PORT, "GET", "/admin/status")[2]["in_flight"] == n, 30),
            f"{n} request(s) in flight at the router")
    return ts, res


def connect_refused():
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((H, PORT))
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()


def case_drain(oracle):
    router = start_router(PORT, [BACKEND], ["--health-interval-s", "0.2", "--drain-timeout-s", "120"],
                          log=os.path.join(RUN, "router-drain.log"))
    ROUTERS.append(router)
    c.check(wait_for("the backend up", lambda: request(H, PORT, "GET", "/admin/status")[2]["backends_up"] == 1),
            "drain: the router sees the replica up")
    keep = http.client.HTTPConnection(H, PORT, timeout=30)  # a keep-alive connection opened before SIGTERM
    keep.request("GET", "/health")
    keep.getresponse().read()
    ts, res = streams_frozen(2, REQ)
    router.send_signal(signal.SIGTERM)
    c.check(wait_for("the listener closed", connect_refused, 30), "drain: new connections are refused after SIGTERM")
    c.check(router.poll() is None, "drain: the router waits for its streams")
    keep.request("POST", "/v1/completions", body=json.dumps(REQ).encode(), headers={"Content-Type": "application/json"})
    r = keep.getresponse()
    body = json.loads(r.read())
    c.check(r.status == 503 and body["error"]["code"] == "shutting_down" and r.getheader("Retry-After"),
            f"drain: a request on a kept-alive connection gets 503 shutting_down ({r.status} {body})")
    keep.request("GET", "/health")
    r = keep.getresponse()
    c.check(r.status == 503 and json.loads(r.read())["status"] == "draining", "drain: /health says draining (503)")
    keep.close()
    os.kill(replica_pid(REPLICA), signal.SIGCONT)
    for t in ts:
        t.join(120)
    for i, (text, errors, done) in enumerate(res):
        c.check(done and not errors and text == oracle,
                f"drain: stream {i} in flight at SIGTERM ended whole = the oracle (done={done} errors={errors})")
    try:
        rc = router.wait(60)
    except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired
        rc = None
    c.check(rc == 0, f"drain: the router exits 0 after its streams ended (rc {rc})")
    log = open(os.path.join(RUN, "router-drain.log"), errors="replace").read()
    c.check("router: drained" in log, "drain: the log says drained")


def case_bounded():
    router = start_router(PORT, [BACKEND], ["--health-interval-s", "0.2", "--drain-timeout-s", "2"],
                          log=os.path.join(RUN, "router-bounded.log"))
    ROUTERS.append(router)
    c.check(wait_for("the backend up", lambda: request(H, PORT, "GET", "/admin/status")[2]["backends_up"] == 1),
            "bounded: the router sees the replica up")
    ts, res = streams_frozen(1, dict(REQ, max_tokens=800))
    t0 = time.time()
    router.send_signal(signal.SIGTERM)
    try:
        rc = router.wait(90)
    except Exception:  # noqa: BLE001
        rc = None
    took = time.time() - t0
    c.check(rc == 0, f"bounded: the router exits 0 with a stream still frozen (rc {rc}, after {took:.1f} s)")
    for t in ts:
        t.join(60)
    text, errors, done = res[0]
    c.check(not done and errors, f"bounded: the cut stream ended without [DONE], the client not left hanging ({errors})")
    log = open(os.path.join(RUN, "router-bounded.log"), errors="replace").read()
    c.check("still in flight after 2 s of draining" in log, "bounded: the log names the cut request")
    os.kill(replica_pid(REPLICA), signal.SIGCONT)


def case_second_signal():
    router = start_router(PORT, [BACKEND], ["--health-interval-s", "0.2", "--drain-timeout-s", "120"],
                          log=os.path.join(RUN, "router-twice.log"))
    ROUTERS.append(router)
    c.check(wait_for("the backend up", lambda: request(H, PORT, "GET", "/admin/status")[2]["backends_up"] == 1),
            "twice: the router sees the replica up")
    ts, _ = streams_frozen(1, REQ)
    router.send_signal(signal.SIGTERM)
    wait_for("the listener closed", connect_refused, 30)
    router.send_signal(signal.SIGTERM)
    try:
        rc = router.wait(60)
    except Exception:  # noqa: BLE001
        rc = None
    c.check(rc == 128 + signal.SIGTERM, f"twice: a second SIGTERM exits at once with 143 (rc {rc})")
    os.kill(replica_pid(REPLICA), signal.SIGCONT)
    for t in ts:
        t.join(60)


def main():
    ok = launch_replica(REPLICA, PORT + 1, env={"MODEL": MODEL})
    c.check(ok, "the replica started")
    if not ok:
        return
    oracle = request(H, PORT + 1, "POST", "/v1/completions", REQ)[2]["choices"][0]["text"]
    case_drain(oracle)
    case_bounded()
    case_second_signal()


try:
    main()
finally:
    for r in ROUTERS:
        if r.poll() is None:
            r.kill()
            r.wait()
    try:
        os.kill(replica_pid(REPLICA), signal.SIGCONT)
    except (OSError, ValueError):
        pass
    stop_replica(REPLICA)
    left = leftovers(RUN)
    c.check(not left, f"no shardlm process left ({left})")
c.finish()
