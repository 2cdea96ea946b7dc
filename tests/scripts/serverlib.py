"""A real server under mpirun for the end-to-end tests: started and stopped through the
launch scripts, spoken to over HTTP with the standard library only."""
import http.client
import json
import os
import socket
import subprocess
import tempfile

from testlib import BIN, RUN_DIRS, SOURCE


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, model, ranks=2, args=(), env=None, wait_s=120, launcher="launch_baseline.sh"):
        self.port = free_port()
        self.run_dir = tempfile.mkdtemp(prefix="shardlm-e2e-")
        RUN_DIRS.append(self.run_dir)
        self.env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                        MODEL=model, RANKS=str(ranks), PORT=str(self.port), RUN_DIR=self.run_dir,
                        WAIT_S=str(wait_s), SHARDLM_BIN=BIN,
                        MPI_ARGS="--oversubscribe", **(env or {}))
        r = subprocess.run(["bash", os.path.join(SOURCE, "launch", launcher), *args],
                           env=self.env, capture_output=True, text=True, timeout=wait_s + 30)
        if r.returncode != 0:
            print(r.stderr)
            print(self.log()[-6000:])
            raise SystemExit("FAIL: the server did not start")

    def log(self):
        """server.log (what mpirun forwarded) plus each rank's own log file."""
        out = ""
        for name in ["server.log"] + sorted(f for f in os.listdir(self.run_dir) if f.startswith("rank") and f.endswith(".log")):
            try:
                out += open(os.path.join(self.run_dir, name), errors="replace").read()
            except OSError:
                pass
        return out

    def stop(self, timeout=90):
        r = subprocess.run(["bash", os.path.join(SOURCE, "launch", "stop_server.sh")], env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        return r

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, raw=None, timeout=120):
        """Returns (status, headers dict, parsed JSON or text)."""
        c = self.conn(timeout)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read().decode("utf-8", errors="replace")
        c.close()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
        return r.status, {k.lower(): v for k, v in r.getheaders()}, payload

    def stream(self, path, body, timeout=120):
        """POSTs with stream=true; returns (status, list of parsed chunks, saw_done)."""
        c = self.conn(timeout)
        c.request("POST", path, body=json.dumps(dict(body, stream=True)).encode(),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            text = r.read().decode()
            c.close()
            return r.status, [json.loads(text)], False
        chunks, done = [], False
        for line in r:
            line = line.decode().rstrip("\r\n")
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                done = True
                break
            chunks.append(json.loads(data))
        c.close()
        return r.status, chunks, done


def processes_of(run_dir_marker=None):
    """PIDs of shardlm serve processes still alive (optionally with a marker in argv)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"shardlm") and b"serve" in cmd:
            if run_dir_marker is None or any(run_dir_marker.encode() in a for a in cmd):
                out.append(int(pid))
    return out
