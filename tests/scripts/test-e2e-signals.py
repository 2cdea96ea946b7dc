# label: e2e
"""Every way a user or mpirun stops a 2-rank server (issue 19 point 7), each on its own
server started by launch/launch_baseline.sh in the foreground (the script waits on
mpirun and exits with its code): SIGTERM to the launcher and Ctrl-C to its process group
(rc 0); SIGTERM to mpirun itself and SIGINT to mpirun and every rank at once (Open MPI's
teardown: SIGCONT, SIGTERM, SIGKILL, SIGKILL_TIMEOUT_S apart; its exit code is 1); kill -9
of rank 1 (the survivor audits before mpirun's SIGKILL). Each case asserts the EXIT AUDIT
line of every rank, that a stream in flight completes where the stop drains, the exit
code, and that no process of the run is left (found by the run directory on their
command lines and by pid, never by name)."""
import http.client
import json
import os
import signal
import subprocess
import tempfile
import time

from serverlib import free_port, processes_of
from testlib import BIN, RUN_DIRS, SOURCE, Checks, need_shared

gguf = need_shared("stories260K", "stories260K.gguf")
c = Checks()
GRACE = 10  # SIGKILL_TIMEOUT_S: the teardown's SIGKILL comes 2 x GRACE after its SIGCONT
# A stream is still in flight when the signal lands: its prompt takes about PROMPT_STEPS
# prefill steps of 8 tokens, each followed by a PREFILL_PAUSE_MS pause on every rank.
PROMPT_STEPS, PREFILL_PAUSE_MS = 12, 400
LONG_PROMPT = " ".join(["Once upon a time there was a little girl."] * 8)
SERVE_ARGS = ("--max-batch-tokens", "8", "--test-prefill-delay-ms", str(PREFILL_PAUSE_MS))


class Foreground:
    """launch_baseline.sh with FOREGROUND=1 in a session of its own (as a terminal or an
    init system runs it)."""

    def __init__(self, args=SERVE_ARGS):
        self.port = free_port()
        self.run_dir = tempfile.mkdtemp(prefix="shardlm-signals-")
        RUN_DIRS.append(self.run_dir)
        self.env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", MODEL=gguf,
                        RANKS="2", PORT=str(self.port), RUN_DIR=self.run_dir, SHARDLM_BIN=BIN,
                        MPI_ARGS="--oversubscribe", FOREGROUND="1", SIGKILL_TIMEOUT_S=str(GRACE))
        self.out = open(os.path.join(self.run_dir, "launcher.out"), "w")
        self.proc = subprocess.Popen(["bash", os.path.join(SOURCE, "launch", "launch_baseline.sh"), *args],
                                     env=self.env, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)
        t0 = time.time()
        while time.time() - t0 < 120 and self.proc.poll() is None:
            try:
                cn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                cn.request("GET", "/health")
                if cn.getresponse().status == 200 and os.path.exists(self.path("rank0.pid")):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit(f"FAIL: the server did not start ({self.log()[-3000:]})")
        self.mpirun = int(open(self.path("mpirun.pid")).read())
        self.ranks = {}
        for pid in processes_of(self.run_dir):
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            for r in (0, 1):
                if f"OMPI_COMM_WORLD_RANK={r}".encode() in env:
                    self.ranks[r] = pid

    def path(self, name):
        return os.path.join(self.run_dir, name)

    def log(self, name=None):
        names = [name] if name else ["launcher.out", "rank0.log", "rank1.log"]
        out = ""
        for n in names:
            try:
                out += open(self.path(n), errors="replace").read()
            except OSError:
                pass
        return out

    def start_stream(self, n=200):
        """Sends a stream whose prompt takes PROMPT_STEPS prefill steps of at least
        PREFILL_PAUSE_MS each (the server runs with --max-batch-tokens 8 and
        --test-prefill-delay-ms), and returns once the server runs it: the request is then
        in flight for seconds on any machine, whatever its speed. Read it with read_stream."""
        cn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        cn.request("POST", "/v1/completions", body=json.dumps({"prompt": LONG_PROMPT, "max_tokens": n, "stream": True,
                                                                "ignore_eos": True, "temperature": 0}),
                   headers={"Content-Type": "application/json"})
        t0 = time.time()
        while time.time() - t0 < 60:
            h = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            h.request("GET", "/admin/health")
            st = json.loads(h.getresponse().read())
            if st.get("running", 0) + st.get("waiting", 0) >= 1:
                break
            time.sleep(0.05)
        return cn

    def wait(self, timeout=6 * GRACE):
        """The launcher's exit code and seconds it took (None if it did not exit)."""
        t0 = time.time()
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        return rc, time.time() - t0

    def leftovers(self):
        left = processes_of(self.run_dir)
        for pid in [self.mpirun, self.proc.pid]:
            try:
                os.kill(pid, 0)
                left.append(pid)
            except ProcessLookupError:
                pass
        return left

    def cleanup(self):
        """stop_server.sh (it checks for this run's processes by its ids) and the launcher."""
        r = subprocess.run(["bash", os.path.join(SOURCE, "launch", "stop_server.sh")], env=self.env,
                           capture_output=True, text=True, timeout=200)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.out.close()
        return r


def read_stream(cn):
    chunks, done = 0, False
    try:
        for line in cn.getresponse():
            if line.startswith(b"data: [DONE]"):
                done = True
            elif line.startswith(b"data: "):
                chunks += 1
    except OSError:
        pass
    return chunks, done


def audits(srv):
    """{rank: cause} from each rank's own log (complete even when mpirun stops forwarding)."""
    out = {}
    for r in (0, 1):
        for line in srv.log(f"rank{r}.log").splitlines():
            if f"EXIT AUDIT: rank={r}, cause=" in line:
                out[r] = line.split("cause=")[1].split(",")[0]
    return out


def finish_case(name, srv, rc_want, causes_want=None):
    """The checks every case shares: exit code, the EXIT AUDIT lines (causes_want: the
    cause of each rank; None: rank 0's only, rank 1 was killed), nothing left."""
    rc, dt = srv.wait()
    a = audits(srv)
    if rc_want == "nonzero":  # a rank was lost: mpirun passes on its status (137 for SIGKILL)
        c.check(rc not in (None, 0), f"{name}: the launcher exits, non-zero ({rc}, {dt:.1f} s after the signal)")
    else:
        c.check(rc == rc_want, f"{name}: the launcher exits with {rc_want} ({rc}, {dt:.1f} s after the signal)")
    if causes_want:
        c.check(a == causes_want, f"{name}: every rank wrote its EXIT AUDIT ({a})")
    else:
        c.check(list(a) == [0], f"{name}: the surviving rank 0 wrote its EXIT AUDIT ({a})")
    left = srv.leftovers()
    c.check(not left, f"{name}: no process of the run is left ({left})")
    r = srv.cleanup()
    c.check("still alive" not in r.stderr and "cannot check" not in r.stderr,
            f"{name}: stop_server.sh finds nothing of the run afterwards ({r.stderr.strip().splitlines()[-1:]})")
    print(f"{name}: stopped in {dt:.1f} s, rc {rc}, causes {a}")
    return rc, dt, a


CLEAN = {0: "server_shutdown", 1: "worker_loop_exit"}

# --- 1. SIGTERM to the launcher (an init system's stop): drained through rank 0, rc 0 ---
srv = Foreground()
try:
    s = srv.start_stream()
    srv.proc.send_signal(signal.SIGTERM)
    chunks, done = read_stream(s)
    c.check(done and chunks >= 150, f"SIGTERM to the launcher: the stream in flight completes ({chunks} chunks)")
finally:
    finish_case("SIGTERM to the launcher", srv, 0, CLEAN)
c.check("stopping: draining 1 requests" in srv.log("rank0.log"), "SIGTERM to the launcher: rank 0 logged its drain")

# --- 2. Ctrl-C in the launcher's terminal: SIGINT to its process group ---
srv = Foreground()
try:
    s = srv.start_stream()
    os.killpg(srv.proc.pid, signal.SIGINT)
    chunks, done = read_stream(s)
    c.check(done and chunks >= 150, f"Ctrl-C: the stream in flight completes ({chunks} chunks)")
finally:
    finish_case("Ctrl-C to the launcher", srv, 0, CLEAN)

# --- 3. SIGTERM to mpirun itself: Open MPI's teardown; the ranks drain at its SIGCONT ---
srv = Foreground()
try:
    s = srv.start_stream()
    os.kill(srv.mpirun, signal.SIGTERM)
    chunks, done = read_stream(s)
    c.check(done and chunks >= 150, f"SIGTERM to mpirun: the stream in flight completes ({chunks} chunks)")
finally:
    # Open MPI 4.1's mpirun exits 1 whenever it is signalled ("ensure we exit with a
    # non-zero status" in its abort handler): the ranks' own stop is clean.
    finish_case("SIGTERM to mpirun", srv, 1, CLEAN)
log = srv.log()
c.check("SIGCONT from mpirun: it is ending the job" in srv.log("rank0.log")
        and "stopping: draining 1 requests" in srv.log("rank0.log"),
        "SIGTERM to mpirun: rank 0 recognised the teardown at its SIGCONT and drained")

# --- 4. SIGINT to mpirun and to every rank at once (one key press to all of them) ---
srv = Foreground()
try:
    s = srv.start_stream()
    for pid in [srv.mpirun, *srv.ranks.values()]:
        os.kill(pid, signal.SIGINT)
    chunks, done = read_stream(s)
    c.check(done and chunks >= 150, f"SIGINT to all: the stream in flight completes ({chunks} chunks)")
finally:
    finish_case("SIGINT to mpirun and every rank", srv, 1, CLEAN)
r0, r1 = srv.log("rank0.log"), srv.log("rank1.log")
c.check("stopping: draining" in r0 and ("SIGINT received" in r1 or "from mpirun" in r1),
        "SIGINT to all: rank 0 logged its drain, rank 1 its stop")

# --- 5. kill -9 of rank 1: the survivor writes its EXIT AUDIT before mpirun's SIGKILL ---
srv = Foreground()
try:
    c.check(sorted(srv.ranks) == [0, 1], f"found both rank processes ({srv.ranks})")
    os.kill(srv.ranks[1], signal.SIGKILL)
finally:
    rc, dt, a = finish_case("kill -9 of rank 1", srv, "nonzero")
c.check("SIGCONT from mpirun: it is ending the job" in srv.log("rank0.log"),
        "kill -9 of rank 1: rank 0 recognised mpirun's teardown at its SIGCONT")
c.finish()
