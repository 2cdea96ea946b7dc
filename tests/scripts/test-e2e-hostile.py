# label: e2e
"""A hostile client against a 2-rank server with API and admin keys (issue 19 point 7):
/admin/load of paths that must be refused (missing, outside the model directory, a
directory, a device, a FIFO, symlinks out, "..", NUL, bad magic) leaves the serving
model serving and remembered; keys are checked before routing; HTTP/1.1 without Host
is a 400; hundreds of half-open connections neither starve /health nor a completion."""
import json
import os
import shutil
import socket
import tempfile
import time

from serverlib import Server, processes_of
from testlib import RUN_DIRS, Checks, need_shared

gguf = need_shared("stories260K", "stories260K.gguf")
c = Checks()
API, ADMIN = "api-secret", "admin-secret"
AUTH = {"Authorization": f"Bearer {API}"}
ADM = {"Authorization": f"Bearer {ADMIN}"}

model_dir = tempfile.mkdtemp(prefix="shardlm-hostile-models-")
RUN_DIRS.append(model_dir)
good = os.path.join(model_dir, "stories260K.gguf")
shutil.copy(gguf, good)
with open(os.path.join(model_dir, "bad-magic.gguf"), "wb") as f:
    f.write(b"NOPE" + b"\0" * 4096)
os.mkfifo(os.path.join(model_dir, "fifo.gguf"))
outside_fifo = os.path.join(tempfile.mkdtemp(prefix="shardlm-hostile-fifo-"), "fifo.gguf")
RUN_DIRS.append(os.path.dirname(outside_fifo))
os.mkfifo(outside_fifo)
os.symlink("/etc/passwd", os.path.join(model_dir, "passwd.gguf"))
os.symlink(good, os.path.join(model_dir, "alias.gguf"))
os.symlink("/etc", os.path.join(model_dir, "etc"))


def completion(srv, n=5, timeout=60):
    return srv.request("POST", "/v1/completions", {"prompt": "Once upon a time", "max_tokens": n, "temperature": 0},
                       headers=AUTH, timeout=timeout)


def admin_load(srv, body, timeout=60):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    t0 = time.time()
    st, _, b = srv.request("POST", "/admin/load", raw=raw, headers=ADM, timeout=timeout)
    return st, b, time.time() - t0


def message(b):
    return b["error"]["message"] if isinstance(b, dict) and "error" in b else repr(b)


srv = Server(good, args=["--api-key", API, "--admin-key", ADMIN, "--ping-interval-s", "0.5",
                         "--header-timeout-s", "3", "--max-connections-per-client", "64"])
try:
    st, _, b = completion(srv)
    c.check(st == 200, f"the model serves ({st})")
    reference = b["choices"][0]["text"] if st == 200 else None

    # --- refused paths: one text each, nothing unloaded, promptly ---
    refused = {
        "missing file": {"model": os.path.join(model_dir, "missing.gguf")},
        "missing outside": {"model": "/nonexistent/x.gguf"},
        "directory /etc": {"model": "/etc"},
        "/dev/zero": {"model": "/dev/zero"},
        "FIFO in the model dir": {"model": os.path.join(model_dir, "fifo.gguf")},
        "FIFO outside": {"model": outside_fifo},
        "symlink to a text file outside": {"model": os.path.join(model_dir, "passwd.gguf")},
        "symlink to a directory outside": {"model": os.path.join(model_dir, "etc")},
        "..": {"model": os.path.join(model_dir, "..", os.path.basename(model_dir), "stories260K.gguf")},
        "relative ..": {"model": "../etc/passwd"},
        "NUL": {"model": good + "\u0000.txt"},
        "the model dir itself": {"model": model_dir},
    }
    texts = set()
    for what, body in refused.items():
        st, b, dt = admin_load(srv, body, timeout=30)
        texts.add(message(b))
        c.check(400 <= st < 500 and dt < 10, f"load of {what}: refused with {st} in {dt:.2f} s ({message(b)})")
    c.check(len(texts) == 1, f"every refused path gets the same text ({len(texts)} texts)")
    st, b, dt = admin_load(srv, {"model": os.path.join(model_dir, "bad-magic.gguf")})
    c.check(400 <= st < 500 and "serving model was kept" in message(b), f"bad magic: {st} ({message(b)})")
    st, _, h = srv.request("GET", "/health")
    c.check(st == 200 and h["status"] == "ok", f"/health still ok after the refused loads ({st} {h})")
    st, _, b = completion(srv)
    c.check(st == 200 and b["choices"][0]["text"] == reference, f"a completion right after still answers ({st})")
    s = srv.request("GET", "/admin/status", headers=ADM)[2]
    c.check(s["model"] == good and s["status"] == "ready" and s["last_error"],
            f"the last good path is remembered ({s['model']}, last_error {s['last_error']!r})")

    # --- /admin/load {} reloads the last good path; a symlink inside the dir is fine ---
    st, b, _ = admin_load(srv, {})
    c.check(st == 200, f"/admin/load {{}} reloads the last good model ({st} {b})")
    st, b, _ = admin_load(srv, {"model": "alias.gguf"})
    c.check(st == 200, f"a relative path through a symlink inside the model dir loads ({st} {b})")
    st, _, b = completion(srv)
    c.check(st == 200 and b["choices"][0]["text"] == reference, f"and serves the same text ({st})")
    st, _, _ = srv.request("POST", "/admin/load", body={}, headers=AUTH)
    c.check(st == 401, f"the API key does not open /admin/load ({st})")
    st, _, _ = srv.request("POST", "/admin/load", body={})
    c.check(st == 401, f"no key: /admin/load is 401 ({st})")

    # --- HTTP probes: no Host, unknown routes without a key ---
    def raw(data, timeout=10):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=timeout) as so:
            so.sendall(data)
            out = b""
            while True:
                chunk = so.recv(65536)
                if not chunk:
                    return out
                out += chunk

    r = raw(b"GET /health HTTP/1.1\r\n\r\n")
    c.check(r.startswith(b"HTTP/1.1 400"), f"HTTP/1.1 without Host → 400 ({r[:40]!r})")
    st, _, _ = srv.request("GET", "/no-such-route")
    c.check(st == 401, f"an unknown route without a key → 401, not 404 ({st})")
    st, _, _ = srv.request("GET", "/no-such-route", headers=AUTH)
    c.check(st == 404, f"with the key → 404 ({st})")

    # --- hundreds of half-open connections from other addresses ---
    held = []
    for i in range(400):
        so = socket.socket()
        so.bind((f"127.0.0.{2 + i % 4}", 0))
        so.settimeout(10)
        try:
            so.connect(("127.0.0.1", srv.port))
            so.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")  # headers never end
        except OSError:
            pass
        held.append(so)
    t0 = time.time()
    st, _, _ = srv.request("GET", "/health", timeout=15)
    dt_h = time.time() - t0
    st2, _, b = completion(srv, timeout=30)
    dt_c = time.time() - t0
    c.check(st == 200 and dt_h < 10, f"/health answers beside 400 half-open connections ({st} in {dt_h:.2f} s)")
    c.check(st2 == 200 and dt_c < 30, f"and a completion too ({st2} in {dt_c:.2f} s)")
    # Past 64 per address they were refused at once (503); the header deadline (3 s
    # here) closes the rest without an answer.
    silent = refused_503 = 0
    deadline = time.time() + 20
    for so in held:
        got = b""
        try:
            while True:
                so.settimeout(max(0.1, deadline - time.time()))
                chunk = so.recv(65536)
                if not chunk:
                    break
                got += chunk
            silent += got == b""
            refused_503 += got.startswith(b"HTTP/1.1 503")
        except OSError:
            pass
        so.close()
    c.check(silent == 4 * 64 and silent + refused_503 == len(held),
            f"64 per address held, then closed by the header deadline ({silent}); the rest refused with 503 ({refused_503})")
finally:
    srv.stop()
c.check(not processes_of(srv.run_dir), "no server process left behind")
c.finish()
