"""Helpers for the router's script tests: free ports, replicas started with
launch/launch_baseline.sh, a router process, HTTP and SSE calls, /metrics and leftovers."""
import http.client
import json
import os
import socket
import subprocess
import time

from testlib import BIN, SOURCE

MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def port_block(n, host="127.0.0.1"):
    """n + 1 consecutive free ports on host (router, replicas)."""
    for _ in range(50):
        s = socket.socket()
        s.bind((host, 0))
        base = s.getsockname()[1]
        s.close()
        if base + n > 65000:
            continue
        ok = True
        for p in range(base, base + n + 1):
            t = socket.socket()
            try:
                t.bind((host, p))
            except OSError:
                ok = False
            t.close()
        if ok:
            return base
    raise SystemExit("FAIL: no free ports")


def request(host, port, method, path, body=None, headers=None, timeout=120):
    """(status, {lower-case header: value}, JSON body or text)."""
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=h)
    r = conn.getresponse()
    text = r.read().decode("utf-8", "replace")
    conn.close()
    try:
        payload = json.loads(text)
    except ValueError:
        payload = text
    return r.status, {k.lower(): v for k, v in r.getheaders()}, payload


def open_stream(host, port, path, body, headers=None, timeout=180):
    """Sends a streamed request; returns (connection, response) with the head read."""
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.request("POST", path, body=json.dumps(dict(body, stream=True)).encode(), headers=h)
    return conn, conn.getresponse()


def read_events(resp, on_chunk=None):
    """Reads an SSE response to its end: (text, error events, saw [DONE]). on_chunk(n) is
    called after the n-th data chunk (1-based)."""
    text, errors, done, n = "", [], False, 0
    try:
        for line in resp:
            line = line.decode().rstrip("\r\n")
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                done = True
                break
            chunk = json.loads(data)
            if "error" in chunk:
                errors.append(chunk)
                continue
            for ch in chunk.get("choices", []):
                text += ch.get("text", "") if "text" in ch else (ch.get("delta", {}).get("content") or "")
            n += 1
            if on_chunk:
                on_chunk(n)
    except (OSError, http.client.HTTPException, ValueError) as e:
        errors.append({"exception": repr(e)})
    return text, errors, done


def wait_for(what, cond, timeout=90):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if cond():
                return True
        except (OSError, KeyError, StopIteration, TypeError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    print(f"timed out waiting for: {what}")
    return False


def metric(host, port, name):
    """The sum of a metric's samples in the router's /metrics."""
    text = request(host, port, "GET", "/metrics")[2]
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def launch_replica(run_dir, port, host="127.0.0.1", serve_args=(), prefix=(), env=None):
    """launch/launch_baseline.sh for one 1-rank replica (stories260K unless MODEL is set in
    env); prefix wraps the command (e.g. ["ip", "netns", "exec", NS]). True when it is up."""
    e = dict(os.environ, **MPI_ENV)
    e.update({"RUN_DIR": run_dir, "PORT": str(port), "HOST": host, "RANKS": "1", "THREADS": "1",
              "MPI_ARGS": "--oversubscribe", "WAIT_S": "120", "SHARDLM_BIN": BIN})
    e.update(env or {})
    r = subprocess.run(list(prefix) + ["bash", os.path.join(SOURCE, "launch", "launch_baseline.sh")] + list(serve_args),
                       env=e, capture_output=True, text=True, timeout=180)
    if r.returncode != 0:
        print(r.stderr[-3000:])
    return r.returncode == 0


def stop_replica(run_dir):
    e = dict(os.environ, **MPI_ENV, RUN_DIR=run_dir, STOP_TIMEOUT="60")
    return subprocess.run(["bash", os.path.join(SOURCE, "launch", "stop_server.sh")], env=e, capture_output=True,
                          text=True, timeout=240).returncode == 0


def replica_pid(run_dir):
    with open(os.path.join(run_dir, "rank0.pid")) as f:
        return int(f.read().strip())


def start_router(port, backends, args=(), log=None):
    """`shardlm router` as a child process; waits until its /health answers (any status)."""
    cmd = [BIN, "router", "--port", str(port)] + [x for b in backends for x in ("--backend", b)] + list(args)
    out = open(log, "w") if log else subprocess.DEVNULL
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    wait_for("the router listening", lambda: p.poll() is None and request("127.0.0.1", port, "GET", "/health")[0] > 0, 30)
    return p


def rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def leftovers(marker):
    """Live shardlm processes with marker on their command line."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"shardlm") and any(marker.encode() in a for a in cmd):
            out.append(int(pid))
    return out
