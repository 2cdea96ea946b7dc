# label: multihost
"""Ranks on separate hosts over TCP: network namespaces on one bridge made by
$SHARDLM_SHARED/tools/netns/netns-hosts.sh, reached by mpirun through an rsh agent
(ns-agent.sh's, plus a host name per namespace), started by the launch scripts with
RSH_AGENT and NET. Greedy text on 2 and 3 hosts
equals one host's; a multi-host server answers like a single-host one, passes the
OpenAI end-to-end tests (test-e2e-serve.py, test-e2e-openai-npm.sh) unchanged and stops
cleanly; then faults: a host cut off while idle, during load and mid-stream, a rank
frozen with SIGSTOP, and a cut restored in time. Each fault case measures that no rank
and no client waits longer than the largest configured timeout + 10 s, that every rank
still running logs EXIT AUDIT naming the lost peer or the timed-out operation, and
that stop_server.sh leaves no rank on any host. Needs root, `ip netns` and mpirun;
skipped (77) otherwise."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from serverlib import Server
from testlib import BIN, SHARED, SOURCE, Checks, hold_netns_hosts, mpirun, need_shared, skip

NETNS = os.path.join(SHARED, "tools", "netns")
NET = "10.77.0.0/24"
NHOSTS = 3
SLACK = 10.0  # the bound: largest configured timeout + 10 s
FATAL = ("peer_lost", "collective_timeout", "eval_timeout")
# mpirun's abort sends SIGCONT, SIGTERM, SIGKILL this many seconds apart, first to the
# ranks on its own node, then to the other nodes: a frozen rank on another host is
# killed 4 x SIGKILL after the abort.
SIGKILL = 2
# The namespace hosts share this machine's cores, which Open MPI cannot see: without
# yielding, ranks busy-polling for a collective starve the one still computing
# (3 ranks on 2 cores: 10 instead of ~900 tokens/s). mpirun passes OMPI_MCA_* on to
# every host.
os.environ["OMPI_MCA_mpi_yield_when_idle"] = "1"

# --- preconditions: say why when skipping ---
if os.geteuid() != 0:
    skip("needs root to create network namespaces")
if shutil.which("mpirun") is None:
    skip("mpirun not found")
if shutil.which("unshare") is None or shutil.which("ip") is None:
    skip("iproute2 (ip) or util-linux (unshare) missing")
if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
    skip("`ip netns` does not work here")
if not os.path.exists(os.path.join(NETNS, "netns-hosts.sh")):
    skip(f"{NETNS}/netns-hosts.sh not found (../shared is absent)")
gguf = need_shared("stories260K", "stories260K.gguf")
expected = open(need_shared("stories260K", "expected-greedy-once-upon-a-time.txt"), encoding="utf-8").read()
PROMPT = "Once upon a time"


def ns(i):
    return f"shlm-h{i}"


def ns_pids(name):
    r = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()] if r.returncode == 0 else []


def cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        return []  # gone (a zombie's is empty too)


NETNS_LOCK = hold_netns_hosts()  # held to the end: no other run cuts these links
existing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
busy = [n for n in existing if n.startswith("shlm-h") and ns_pids(n)]
if busy:
    skip(f"namespaces {busy} are in use (another multi-host run?)")
c = Checks()
tmp = tempfile.mkdtemp(prefix="shardlm-multihost-")
# Open MPI's session directories (ORTE_TMP/ompi.HOST.UID/jf.JOBFAMILY/...) of the daemons
# a case kills stay behind, and a later job of the same job family would trip over
# them: keep them in a directory of this test, swept after each case.
ORTE_TMP = os.path.join(tmp, "orte")
os.makedirs(ORTE_TMP)
os.environ["OMPI_MCA_orte_tmpdir_base"] = ORTE_TMP
# The rsh agent: ns-agent.sh's, plus a host name of its own for each namespace host (a
# UTS namespace). With the machine's one name, the daemons of a job on several hosts
# share a session directory and race to create it ("mkdir ... File exists") and to map
# one hwloc topology file (a crash in hwloc_shmem_topology_write).
AGENT = os.path.join(tmp, "agent.sh")
with open(AGENT, "w") as f:
    f.write('#!/bin/sh\nhost=$1; shift\nif [ "$host" = localhost ]; then exec sh -c "$*"; fi\n'
            'exec ip netns exec "$host" unshare --uts sh -c \'hostname "$0" && exec sh -c "$1"\' "$host" "$*"\n')
os.chmod(AGENT, 0o755)
hosts_sh = ["bash", os.path.join(NETNS, "netns-hosts.sh")]
subprocess.run(hosts_sh + ["down", str(NHOSTS)], capture_output=True)  # stale ones from a killed run
up = subprocess.run(hosts_sh + ["up", str(NHOSTS)], capture_output=True, text=True)
if up.returncode != 0:
    subprocess.run(hosts_sh + ["down", str(NHOSTS)], capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)
    skip(f"cannot create namespace hosts: {up.stderr.strip()[-300:]}")

notes = []
servers = []


def hostfile(name, hosts):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write("".join(f"{h} slots=1\n" for h in hosts))
    return path


def link(i, state):
    """Sets host i's link up or down. A bound measured from a fault starts when this
    returns (the fault is in effect then): on a loaded machine the call itself once took
    13 s, and a clock started before it charged that to the server. Calls that take
    over a second are noted."""
    t = time.time()
    subprocess.run(["ip", "link", "set", f"shlm-v{i}", state], check=True)
    if time.time() - t > 1.0:
        notes.append(f"ip link set shlm-v{i} {state} took {time.time() - t:.1f} s")


def ranks_alive(marker):
    """Live (non-zombie) shardlm processes with marker on their command line, any namespace."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            cmd = cmdline(pid)
            if cmd and cmd[0].endswith(b"shardlm") and any(marker.encode() in a for a in cmd):
                out.append(int(pid))
    return out


def rank_pid_in(i, marker):
    return [p for p in ns_pids(ns(i)) if p in ranks_alive(marker)]


def wait_gone(marker, t0, limit):
    """Seconds from t0 until no rank with marker is alive (or None past t0 + limit)."""
    while time.time() - t0 < limit:
        if not ranks_alive(marker):
            return time.time() - t0
        time.sleep(0.1)
    return None


def audits(run_dir):
    """{rank: (cause, detail)} from RUN_DIR/rank*.log (each host writes its own file)."""
    out = {}
    for f in sorted(os.listdir(run_dir)):
        if f.startswith("rank") and f.endswith(".log"):
            for line in open(os.path.join(run_dir, f), errors="replace"):
                if "EXIT AUDIT: rank=" in line:
                    body = line.split("EXIT AUDIT: ", 1)[1].strip()
                    fields = dict(kv.split("=", 1) for kv in body.split(", ") if "=" in kv)
                    detail = body.split("detail=", 1)[1] if "detail=" in body else ""
                    out[int(fields["rank"])] = (fields.get("cause", ""), detail)
    return out


def check_audits(what, run_dir, ranks):
    a = audits(run_dir)
    for r in ranks:
        cause, detail = a.get(r, ("", ""))
        c.check(cause in FATAL and ("TIMED OUT" in detail or "failed" in detail),
                f"{what}: rank {r} EXIT AUDIT names the lost peer or timed-out operation ({cause}: {detail[:110]})")
    return a


def heal():
    """Every link up and usable again: after a cut the namespace side may lack carrier for
    a moment and hold FAILED neighbour entries, and a daemon connecting then gets
    EHOSTUNREACH. Waits until each host completes a TCP connection to the bridge."""
    lsn = socket.socket()
    lsn.bind(("10.77.0.1", 0))
    lsn.listen(16)
    port = lsn.getsockname()[1]
    probe = f"import socket; socket.create_connection(('10.77.0.1', {port}), timeout=1)"
    try:
        for i in range(1, NHOSTS + 1):
            link(i, "up")
        subprocess.run(["ip", "neigh", "flush", "dev", "shlm-br0"], capture_output=True)
        for i in range(1, NHOSTS + 1):
            t0 = time.time()
            while True:
                subprocess.run(["ip", "netns", "exec", ns(i), "ip", "neigh", "flush", "all"], capture_output=True)
                if subprocess.run(["ip", "netns", "exec", ns(i), sys.executable, "-c", probe],
                                  capture_output=True).returncode == 0:
                    break
                if time.time() - t0 > 10:
                    raise SystemExit(f"FAIL: {ns(i)} cannot reach 10.77.0.1 after its link came back")
                time.sleep(0.2)
    finally:
        lsn.close()


def sweep(what, stopped_by_script=True):
    """Leftovers in the namespaces after a case, then kill them. After stop_server.sh
    (which ends this run's ranks, daemons and agent shells on every host by the run's
    ids) a leftover is a failure; after a case that killed mpirun itself, a note (Open
    MPI's daemon on a cut host cannot be reached by mpirun and outlives the job)."""
    heal()
    left = []
    for i in range(1, NHOSTS + 1):
        for pid in ns_pids(ns(i)):
            cmd = cmdline(pid)
            name = os.path.basename(cmd[0].decode(errors="replace")) if cmd and cmd[0] else "?"
            if name != "?":
                left.append(f"{name} (pid {pid}) in {ns(i)}")
                if not stopped_by_script:
                    notes.append(f"{what}: {name} (pid {pid}) left in {ns(i)}; killed")
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
    if stopped_by_script:
        c.check(not left, f"{what}: nothing of the run left on any host after stop_server.sh ({left})")
    time.sleep(0.2)
    shutil.rmtree(ORTE_TMP, ignore_errors=True)  # what the killed daemons left
    os.makedirs(ORTE_TMP, exist_ok=True)


def no_rank_anywhere(what, marker):
    t0 = time.time()
    while ranks_alive(marker) and time.time() - t0 < 5:
        time.sleep(0.1)
    left = {f"ns {i}": rank_pid_in(i, marker) for i in range(1, NHOSTS + 1)}
    left["all"] = ranks_alive(marker)
    c.check(not any(left.values()), f"{what}: no rank process left on any host ({left})")


def server(hosts, args, env=None):
    e = {"HOSTFILE": hostfile(f"hosts-{len(hosts)}-{time.time():.0f}", hosts), "RSH_AGENT": AGENT, "NET": NET,
         "STOP_TIMEOUT": "5", "SIGKILL_TIMEOUT_S": str(SIGKILL)}
    e.update(env or {})
    srv = Server(gguf, ranks=len(hosts), args=args, env=e, wait_s=60)
    servers.append(srv)
    return srv


def stop(srv, what, bound):
    try:
        mp = int(open(os.path.join(srv.run_dir, "mpirun.pid")).read())
        if (os.path.exists(f"/proc/{mp}") and "zombie" not in open(f"/proc/{mp}/status").read()
                and not ranks_alive(srv.run_dir)):
            notes.append(f"{what}: every rank exited, mpirun still running (its teardown, or a daemon it cannot reach)")
    except (OSError, ValueError):
        pass
    t0 = time.time()
    r = srv.stop(timeout=bound + 30)
    dt = time.time() - t0
    c.check(r.returncode == 0 and dt < bound, f"{what}: stop_server.sh finds no rank on any host, in {dt:.1f} s "
            f"(rc {r.returncode}{': ' + r.stderr.strip()[-300:] if r.returncode else ''})")
    no_rank_anywhere(what, srv.run_dir)


class Client(threading.Thread):
    """Sends requests one after another until the server stops answering or `limit` s
    pass; records (status or exception name, seconds) of each."""

    def __init__(self, srv, limit, body):
        super().__init__(daemon=True)
        self.srv, self.limit, self.body, self.results = srv, limit, body, []

    def run(self):
        t0 = time.time()
        while time.time() - t0 < self.limit:
            t = time.time()
            try:
                st = self.srv.request("POST", "/v1/completions", self.body, timeout=self.limit + 5)[0]
            except Exception as ex:  # connection refused/reset, empty reply, timeout
                st = type(ex).__name__
            self.results.append((st, time.time() - t))
            if not isinstance(st, int):
                break
            time.sleep(0.5)


class Stream(threading.Thread):
    """One streamed completion, read in its own thread: text, chunk arrival times, the
    SSE error event, the exception that ended it, whether [DONE] came, when it ended."""

    def __init__(self, srv, body, timeout):
        super().__init__(daemon=True)
        self.srv, self.body, self.timeout = srv, dict(body, stream=True), timeout
        self.status, self.text, self.times, self.err, self.exc, self.done, self.end = None, "", [], None, None, False, None

    def run(self):
        try:
            conn = self.srv.conn(self.timeout)
            conn.request("POST", "/v1/completions", body=json.dumps(self.body).encode(),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            self.status = resp.status
            for line in resp:
                line = line.decode(errors="replace").rstrip("\r\n")
                if line == "data: [DONE]":
                    self.done = True
                    break
                if line.startswith("data: "):
                    ev = json.loads(line[6:])
                    if "error" in ev:
                        self.err = ev["error"]
                    else:
                        self.text += ev["choices"][0]["text"]
                        self.times.append(time.time())
            conn.close()
        except Exception as ex:  # reset, timeout
            self.exc = type(ex).__name__
        self.end = time.time()

    def failed(self):
        return self.err is not None or self.exc is not None or (self.status is not None and self.status != 200)

    def summary(self):
        return (f"{len(self.times)} chunks{' + [DONE]' if self.done else ''}, status {self.status}, error "
                f"{(self.err or {}).get('message', '')[:90] or None}, exception {self.exc}")


def streams(srv, n, body, timeout, fault):
    """Starts n concurrent streams on a server that runs one sequence at a time
    (--max-num-seqs 1), so that the last ones are still to run when the first shows its
    first chunk; then calls fault(). Returns (streams, time of the fault)."""
    ss = [Stream(srv, body, timeout) for _ in range(n)]
    for st in ss:
        st.start()
    t0 = time.time()
    while not any(st.times or st.end for st in ss) and time.time() - t0 < 5:
        time.sleep(0.002)
    fault()
    return ss, time.time()  # the fault is in effect from here (see link())


def ended_ok(ss, t0, bound):
    """Every stream ended within bound s of the fault: either complete (it had finished
    before the fault) or with an error; at least one was still generating."""
    return (all(st.end is not None and st.end - t0 <= bound for st in ss)
            and all(st.failed() or (st.done and len(st.times) >= 1900) for st in ss) and any(st.failed() for st in ss))


LONG = {"prompt": PROMPT, "max_tokens": 2000, "ignore_eos": True, "temperature": 0}


def fault_args(hb):
    """serve flags of the streaming fault cases: one sequence at a time (see streams())."""
    return ["--heartbeat-timeout-s", str(hb), "--ping-interval-s", "0.5", "--max-num-seqs", "1"]


def single_host(prompt, n, ranks=1):
    r = mpirun(ranks, ["generate", "--model", gguf, "--prompt", prompt, "-n", str(n), "--temp", "0", "--no-echo",
                       "--ignore-eos"])
    return r.stdout.rstrip("\n")


mh_env = dict(os.environ, SHARDLM_BIN=BIN, RSH_AGENT=AGENT, NET=NET, OMPI_ALLOW_RUN_AS_ROOT="1",
              OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
T_START = time.time()
try:
    # ---------- 1. generate on 2 and 3 hosts: run.c's greedy text, as on one host ----------
    for n in (2, 3):
        hf = hostfile(f"gen{n}", [ns(i) for i in range(1, n + 1)])
        t0 = time.time()
        r = subprocess.run(["bash", os.path.join(SOURCE, "launch", "launch_generate.sh"), "--temp", "0"],
                           env=dict(mh_env, HOSTFILE=hf, RANKS=str(n), MODEL=gguf, PROMPT=PROMPT, N="252"),
                           capture_output=True, text=True, timeout=120)
        c.check(r.returncode == 0 and r.stdout == expected,
                f"generate, {n} ranks on {n} namespace hosts: run.c's text byte for byte ({time.time() - t0:.1f} s)")
        if r.stdout != expected:
            print("got:", r.stdout[-600:], r.stderr[-3000:])
        fig = [l for l in r.stderr.splitlines() if "figures:" in l]
        c.check(len(fig) == 1 and "collective_s_per_step=" in fig[0], f"{n} hosts: figures line with collective time")
        print(fig[0].split("figures: ", 1)[-1] if fig else "")

    # ---------- 2. serve with 3 ranks on 3 hosts (rank 0 in the test's namespace) ----------
    prompts = ["Once upon a time", "The little dog", "Lily and Ben went"]
    ref = {p: single_host(p, 40) for p in prompts}
    srv = server(["localhost", ns(1), ns(2)], ["--max-num-seqs", "4"])
    try:
        placed = [len(rank_pid_in(i, srv.run_dir)) for i in (1, 2)]
        names = [r["host"] for r in srv.request("GET", "/admin/status")[2]["ranks"]]
        c.check(placed == [1, 1] and names[1:] == [ns(1), ns(2)],
                f"serve: one rank in each of {ns(1)}, {ns(2)} (namespaces {placed}, /admin/status hosts {names})")
        for p in prompts:
            st, _, b = srv.request("POST", "/v1/completions", {"prompt": p, "max_tokens": 40, "temperature": 0,
                                                                "ignore_eos": True})
            got = b["choices"][0]["text"] if st == 200 else b
            c.check(st == 200 and got == ref[p], f"serve on 3 hosts: {p!r} equals the single-host text ({got!r:.60})")
        st, chunks, done = srv.stream("/v1/completions", {"prompt": prompts[0], "max_tokens": 40, "temperature": 0,
                                                           "ignore_eos": True})
        stext = "".join(ch["choices"][0]["text"] for ch in chunks if ch.get("choices"))
        c.check(st == 200 and done and stext == ref[prompts[0]], f"serve on 3 hosts: streaming ({len(chunks)} chunks)")
        m = srv.request("GET", "/metrics")[2]
        c.check("shardlm_collective_seconds_total" in m and "shardlm_steps_total" in m, "/metrics: collective time")
    finally:
        stop(srv, "serve on 3 hosts", 20)
    a = audits(srv.run_dir)
    c.check(a.get(0, ("",))[0] == "server_shutdown" and a.get(1, ("",))[0] == "worker_loop_exit"
            and a.get(2, ("",))[0] == "worker_loop_exit", f"serve on 3 hosts: clean EXIT AUDIT on every host ({a})")
    sweep("clean stop")

    # ---------- 2b. the OpenAI end-to-end tests, unchanged, against a 2-host server ----------
    # Their servers come from serverlib.Server, which hands the environment to
    # launch_baseline.sh: with HOSTFILE/RSH_AGENT/NET set, rank 1 runs on a namespace host.
    e2e_env = dict(mh_env, HOSTFILE=hostfile("e2e", ["localhost", ns(1)]), STOP_TIMEOUT="20",
                   SIGKILL_TIMEOUT_S=str(SIGKILL))
    for script in ("test-e2e-serve.py", "test-e2e-openai-npm.sh"):
        path = os.path.join(SOURCE, "tests", "scripts", script)
        cmd = [sys.executable, path] if script.endswith(".py") else ["bash", path]
        t0 = time.time()
        r = subprocess.run(cmd, env=e2e_env, capture_output=True, text=True, timeout=900)
        if r.returncode == 77:
            notes.append(f"{script} on 2 hosts skipped: {(r.stdout + r.stderr).strip().splitlines()[-1:]}")
        else:
            c.check(r.returncode == 0, f"{script}, unchanged, against a server on 2 hosts ({time.time() - t0:.0f} s)")
            if r.returncode != 0:
                print((r.stdout + r.stderr)[-4000:])
        sweep(script)

    # ---------- 3. a host cut off while idle (3 ranks, the third host cut) ----------
    HB, COLL = 5, 8
    bound = max(HB, COLL) + SLACK
    srv = server(["localhost", ns(1), ns(2)], ["--heartbeat-timeout-s", str(HB), "--ping-interval-s", "0.5"],
                 {"SHARDLM_COLLECTIVE_TIMEOUT": str(COLL)})
    try:
        st, _, _ = srv.request("POST", "/v1/completions", {"prompt": PROMPT, "max_tokens": 8})
        c.check(st == 200, f"idle cut: the server answers before the cut ({st})")
        link(2, "down")
        t0 = time.time()
        time.sleep(2.0)
        # Rank 0 is blocked on the heartbeat: /health says so before the timeout ends the job.
        try:
            hst, _, hb = srv.request("GET", "/health", timeout=5)
        except Exception as ex:  # noqa: BLE001 - report what happened
            hst, hb = type(ex).__name__, None
        c.check(hst == 503 and isinstance(hb, dict) and hb.get("status") == "degraded" and "waited" in hb.get("reason", ""),
                f"idle cut: /health is 503 degraded while rank 0 waits for the lost host ({hst} {hb})")
        cl = Client(srv, bound + 5, {"prompt": PROMPT, "max_tokens": 8})
        cl.start()
        gone = wait_gone(srv.run_dir, t0, bound + 5)
        cl.join(bound + 10)
        c.check(gone is not None and gone <= bound,
                f"idle cut: every rank exited {gone} s after the cut (bound {bound} s)")
        res = cl.results
        c.check(not cl.is_alive() and res and all(s != 200 for s, _ in res) and all(d <= bound for _, d in res),
                f"idle cut: clients get an error, never a hang ({[(s, round(d, 1)) for s, d in res]})")
        c.check(res and res[0][0] == 503,
                f"idle cut: the request that arrived during the wait is answered 503, not dropped ({res[:1]})")
        check_audits("idle cut", srv.run_dir, [0, 1, 2])
        a0 = audits(srv.run_dir).get(0, ("", ""))
        c.check(f"rank 2 (host {ns(2)})" in a0[1], f"idle cut: rank 0's EXIT AUDIT names the silent rank and host ({a0[1][:160]})")
    finally:
        stop(srv, "idle cut", 30)
    sweep("idle cut")

    # ---------- 4. a host cut during load (generate, slowed load) ----------
    EV = 4
    bound = EV + SLACK
    run_dir = tempfile.mkdtemp(prefix="load-", dir=tmp)
    hf = hostfile("load", ["localhost", ns(1)])
    cmd = ["mpirun", "-n", "2", "--hostfile", hf, "--bind-to", "none", "--mca", "plm_rsh_agent", AGENT,
           "--mca", "btl_tcp_if_include", NET, "--mca", "oob_tcp_if_include", NET, "--mca", "btl", "tcp,self",
           BIN, "--log-file", os.path.join(run_dir, "rank{rank}.log"), "generate", "--model", gguf,
           "--prompt", PROMPT, "-n", "8", "--test-load-delay-ms", "800"]
    out = open(os.path.join(run_dir, "mpirun.log"), "w")
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                         env=dict(mh_env, SHARDLM_EVAL_TIMEOUT=str(EV), OMPI_MCA_odls_base_sigkill_timeout=str(SIGKILL)))
    try:
        t_start = time.time()
        while not rank_pid_in(1, run_dir) and time.time() - t_start < 20:
            time.sleep(0.1)
        time.sleep(1.5)
        link(1, "down")
        t0 = time.time()
        gone = wait_gone(run_dir, t0, bound + 5)
        c.check(gone is not None and gone <= bound,
                f"cut during load: every rank exited {gone} s after the cut (bound {bound} s)")
        log0 = open(os.path.join(run_dir, "rank0.log"), errors="replace").read() if os.path.exists(
            os.path.join(run_dir, "rank0.log")) else ""
        c.check("eval_with_timeout TIMED OUT" in log0, "cut during load: eval_with_timeout TIMED OUT on rank 0")
        check_audits("cut during load", run_dir, [0, 1])
        try:
            p.wait(5)
            notes.append(f"cut during load: mpirun exited by itself (code {p.returncode})")
        except subprocess.TimeoutExpired:
            notes.append("cut during load: mpirun still waiting for the cut host's daemon 5 s after the ranks; killed")
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        out.close()
        no_rank_anywhere("cut during load", run_dir)
    sweep("cut during load", stopped_by_script=False)

    # ---------- 5. a host cut mid-stream ----------
    HB, COLL = 5, 8
    bound = max(HB, COLL) + SLACK
    srv = server(["localhost", ns(1)], fault_args(HB),
                 {"SHARDLM_COLLECTIVE_TIMEOUT": str(COLL)})
    try:
        ss, t0 = streams(srv, 4, LONG, bound + 20, lambda: link(1, "down"))
        for st in ss:
            st.join(bound + 15)
        ends = [round(st.end - t0, 1) if st.end else None for st in ss]
        c.check(ended_ok(ss, t0, bound), f"mid-stream cut: every stream ends within the bound ({bound} s), the ones "
                f"still generating with an error: ends {ends} s, {[st.summary() for st in ss]}")
        gone = wait_gone(srv.run_dir, t0, bound + 5)
        c.check(gone is not None and gone <= bound, f"mid-stream cut: every rank exited {gone} s after the cut")
        check_audits("mid-stream cut", srv.run_dir, [0, 1])
    finally:
        stop(srv, "mid-stream cut", 30)
    sweep("mid-stream cut")

    # ---------- 6. a rank frozen (SIGSTOP) on another host, mid-stream, 3 ranks ----------
    # Rank 0 waits for the frozen rank's row records (its collective deadline, COLL);
    # rank 1 waits for rank 0's next step (the heartbeat). The heartbeat is set past
    # COLL so that rank 0's own deadline ends the job and names the fault. With the
    # heartbeat first (5 s), rank 1's exit started mpirun's teardown, whose SIGKILL
    # audit (heartbeat + 2 x SIGKILL - 1 s margin = 8 s) raced rank 0's 8 s deadline:
    # twice in a row on a loaded Zen 3 the teardown came first ("mpirun_teardown ...
    # waiting 8.1 s for the other ranks: gather row records").
    HB6 = COLL + 2
    bound = max(HB6, COLL) + SLACK
    srv = server(["localhost", ns(1), ns(2)], fault_args(HB6),
                 {"SHARDLM_COLLECTIVE_TIMEOUT": str(COLL)})
    frozen = []
    try:
        frozen = rank_pid_in(2, srv.run_dir)
        ss, t0 = streams(srv, 4, LONG, bound + 20, lambda: [os.kill(pid, signal.SIGSTOP) for pid in frozen])
        for st in ss:
            st.join(bound + 15)
        ends = [round(st.end - t0, 1) if st.end else None for st in ss]
        c.check(len(frozen) == 1 and ended_ok(ss, t0, bound), f"frozen rank: every stream ends within the bound "
                f"({bound} s), the ones still generating with an error: ends {ends} s, "
                f"{[st.summary() for st in ss]}")
        gone = wait_gone(srv.run_dir, t0, bound + 5)
        c.check(gone is not None and gone <= bound,
                f"frozen rank: every rank gone {gone} s after SIGSTOP, the frozen one killed by mpirun (bound {bound} s)")
        check_audits("frozen rank", srv.run_dir, [0, 1])
    finally:
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        stop(srv, "frozen rank", 30)
    sweep("frozen rank")

    # ---------- 7. a cut restored before the timeouts: the streams complete, same text ----------
    # The oracle is the same model split the same way: 2 ranks on one host. The text of
    # 2 ranks and of 1 may part after a few hundred tokens (each rank sums its half of a
    # row-parallel product, then the halves are added: another rounding than one sum;
    # on OpenBLAS's Haswell/Zen kernels stories260K's 2000-token texts part at token
    # ~300 -- issue 19 point 1, docs/design.md "Numerics"), so a 1-rank text would test
    # the BLAS, not the cut. The streams share steps (--max-num-seqs 4): with batch
    # invariance (kernels/matmul.h) each one's text is what it is alone.
    HB, COLL, CUT = 12, 12, 2.0
    want = single_host(PROMPT, LONG["max_tokens"], ranks=2)
    srv = server(["localhost", ns(1)], ["--heartbeat-timeout-s", str(HB), "--ping-interval-s", "0.5",
                                        "--max-num-seqs", "4"],
                 {"SHARDLM_COLLECTIVE_TIMEOUT": str(COLL)})
    try:
        # Three 2000-token streams over TCP: generous client timeouts (a loaded CI
        # machine runs them at a few hundred tokens per second).
        ss, t0 = streams(srv, 3, LONG, 150, lambda: link(1, "down"))
        late = Stream(srv, dict(LONG, max_tokens=40), 150)  # sent during the cut: its first token needs the link
        late.start()
        time.sleep(CUT)
        t_up = time.time()
        link(1, "up")
        for st in ss + [late]:
            st.join(150)
        c.check(all(st.done and not st.failed() and st.text == want for st in ss),
                f"cut for {CUT} s and restored: every stream completes with the 2-rank text "
                f"({[st.summary() for st in ss if st.text != want or st.failed()][:1]})")
        first = late.times[0] - t_up if late.times else None
        done_after = late.end - t_up if late.end else None
        c.check(first is not None and first > 0 and late.done and not late.failed() and want.startswith(late.text),
                f"cut restored: a request sent during the cut waited for the link, then completed with the same "
                f"text (first token {first and round(first, 2)} s, done {done_after and round(done_after, 2)} s "
                f"after the link came back)")
        notes.append(f"cut restored: the request sent during the cut completed {done_after and round(done_after, 2)} s "
                     f"after the link came back (issue 19 target: 5 s)")
        st, _, b = srv.request("POST", "/v1/completions", {"prompt": PROMPT, "max_tokens": 40, "temperature": 0,
                                                            "ignore_eos": True})
        c.check(st == 200 and want.startswith(b["choices"][0]["text"]), f"cut restored: the next request is answered ({st})")
    finally:
        stop(srv, "cut restored", 20)
    a = audits(srv.run_dir)
    c.check(a.get(0, ("",))[0] == "server_shutdown" and a.get(1, ("",))[0] == "worker_loop_exit",
            f"cut restored: clean EXIT AUDIT ({a})")
    sweep("cut restored")
finally:
    for srv in servers:  # a case that failed half-way: its mpirun's process group
        try:
            os.killpg(int(open(os.path.join(srv.run_dir, "mpirun.pid")).read()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
    for i in range(1, NHOSTS + 1):
        subprocess.run(["ip", "link", "set", f"shlm-v{i}", "up"], capture_output=True)
    for i in range(1, NHOSTS + 1):
        for pid in ns_pids(ns(i)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    subprocess.run(hosts_sh + ["down", str(NHOSTS)], capture_output=True)
    left = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
            if n.startswith("shlm-h")]
    if left:
        print(f"FAIL: namespaces left after teardown: {left}")
    shutil.rmtree(tmp, ignore_errors=True)
    for note in notes:
        print("note:", note)
    print(f"total {time.time() - T_START:.0f} s")
c.finish()
