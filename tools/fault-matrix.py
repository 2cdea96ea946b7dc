#!/usr/bin/env python3
"""The fault matrix (issue 19 point 5), run by `shardlm-bench faults` (or directly).

Every cell starts a fresh 2-rank server through launch/launch_baseline.sh with each rank
on its own host -- a network namespace on a bridge, laid out as
../shared/tools/netns/netns-hosts.sh does it but under names of its own (rank 0 on
shfm-h1, rank 1 on shfm-h2, 10.79.0.0/24, mpirun in this namespace) -- puts it in a phase,
injects one fault into one rank, and measures:
  detect_s   fault -> the first visible reaction: /health not 200 (polled every 0.1 s),
             a client answered with an error, or a rank process gone
  settle_s   fault -> every rank exited, or (cut + restore, slow link) the server
             answers again: a probe request completed after the link came back
  clients    completed / error / hung of every request of the cell (the phase's own
             requests plus a well-behaved client sending one every 0.3 s); hung = no
             answer and no error within the bound (the client's own timeout)
  leftovers  after launch/stop_server.sh: processes of this run still alive, found by
             the run's own ids (RUN_DIR on a rank's command line, the job's HNP URI on
             orted and agent shells, and anything left in the namespaces), never by name
  audit      the EXIT AUDIT line of each rank (rank*.log; a rank killed with -9 cannot
             write one and is not required to)
Clients reach rank 0 over a front network of their own (a second veth into shfm-h1,
10.78.0.0/24), so that a cut of rank 0's cluster link (10.79.0.0/24, what MPI uses)
leaves the clients a path to it, as on a machine with a service and a cluster network.

Faults: kill9 (SIGKILL), sigstop (SIGSTOP; SIGCONT at the end of the cell), cut (the
host's cluster link down for the rest of the cell), cut_restore (down for --cut-s, then
up), slow (for --cut-s: netem delay and loss on the host's link where the kernel has
sch_netem, else a tbf rate limit of 128 kbit/s with a 200 ms queue; with neither, every
slow cell says "n/a" with the reason).
Targets: rank0, worker. Phases: idle, loading (POST /admin/load of the same model,
slowed by --test-load-delay-ms), prefill (a request whose prompt step every rank
pauses in, --test-prefill-delay-ms), decode (long greedy streams), draining (SIGTERM to
rank 0 with streams running, then the fault). In decode and draining cells every decode
step pauses 20 ms (--test-decode-delay-ms), so that the streams, and the drain, are
still on when the fault lands, however fast the machine.

A cell passes when: 0 hung, 0 leftovers, an EXIT AUDIT on every rank not killed with -9,
and either every rank exited within the bound (max(heartbeat, collective deadline) +
slack) or, for cut_restore / slow (run with a 12 s heartbeat and collective floor), the
server recovered and the streams completed.
Output: OUT/cells.json, OUT/matrix.md; the matrix is printed. Exit code 0 when every
cell that could run passed, 1 otherwise, 2 when nothing could run (not root, no
`ip netns`, no model), with the reason.
"""
import argparse
import http.client
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

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SHARED = os.environ.get("SHARDLM_SHARED", os.path.join(ROOT, "..", "shared"))
# Names and networks of its own (not netns-hosts.sh's shlm-h*, 10.77.0.0/24), so that a
# fault matrix and test-multihost never tear down each other's hosts on a shared machine.
NET, CLUSTER, FRONT = "10.79.0.0/24", "10.79.0", "10.78.0"
BRIDGE = "shfm-br0"
HOSTS = ["shfm-h1", "shfm-h2"]  # rank 0, rank 1
VETH = {"rank0": "shfm-v1", "worker": "shfm-v2"}  # bridge side; the host side is shfm-p1 / shfm-p2
FAULTS = ["kill9", "sigstop", "cut", "cut_restore", "slow"]
TARGETS = ["rank0", "worker"]
PHASES = ["idle", "loading", "prefill", "decode", "draining"]
REDUCED = [("kill9", "worker", "decode"), ("kill9", "rank0", "idle"), ("sigstop", "worker", "prefill"),
           ("cut", "worker", "decode"), ("cut", "rank0", "idle"), ("cut_restore", "worker", "decode"),
           ("slow", "worker", "decode")]
PROMPT = "Once upon a time"
# The slow link's qdisc, the first the kernel has: netem (200 +- 50 ms delay, 5 % loss),
# else tbf (128 kbit/s, a queue of 200 ms, drops past it: a quarter of what decode sends).
SLOW_QDISCS = [("netem", ["netem", "delay", "200ms", "50ms", "loss", "5%"]),
               ("tbf", ["tbf", "rate", "128kbit", "burst", "4kb", "latency", "200ms"])]
HB, PING, FLOOR, SLACK = 5.0, 0.5, 6.0, 10.0
# A cut that is restored (cut_restore, slow) must heal, so its timeouts leave room for the
# cut, TCP's retransmission backoff after it (up to about the cut again) and a loaded
# machine that holds the ranks off the CPU for seconds: test-multihost case 7's 12 s.
HEAL_HB = HEAL_FLOOR = 12.0
# mpirun's SIGTERM -> SIGKILL grace after an abort (SIGKILL_TIMEOUT_S): above the heartbeat
# timeout and the collective floor, as docs/operations.md asks, so survivors audit first.
SIGKILL_S = 8
EVAL_S = 8  # s, --load-timeout-floor-s of the loading cells
PREFILL_DEADLINE = 8  # s, fixed, for the prefill cells (> the 3 s pause)
WARM = 20  # requests before the fault: the collective deadline is derived after 16 measured steps
DECODE_STEP_MS = 20  # ms, --test-decode-delay-ms of the decode and draining cells


def now():
    return time.time()


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        return []


BIN_NAME = [b"shardlm"]  # the rank program's file name (--bin's), set in main()


def is_shardlm(pid):
    """A rank process, reading its command line once (a process that exits between two
    reads has none: reading it twice once raised IndexError mid-matrix)."""
    c = cmdline(pid)
    return bool(c) and os.path.basename(c[0]) == BIN_NAME[0]


def proc_name(pid):
    """The program name of a live process, None once it has exited (read once)."""
    c = cmdline(pid)
    return os.path.basename(c[0].decode(errors="replace")) if c and c[0] else None


def alive(pid):
    try:
        return "zombie" not in open(f"/proc/{pid}/status").read().split("State:")[1].split("\n")[0]
    except (OSError, IndexError):
        return False


def ns_pids(name):
    r = sh(["ip", "netns", "pids", name])
    return [int(x) for x in r.stdout.split()] if r.returncode == 0 else []


def procs_with(*markers):
    """Live processes with any of the markers in their command line (this script excluded)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        cmd = b" ".join(cmdline(pid))
        if cmd and any(m and m.encode() in cmd for m in markers) and alive(pid):
            out.append(int(pid))
    return out


class Cluster:
    """The namespace hosts, the front network, the rsh agent, link control."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.agent = os.path.join(tmp, "agent.sh")
        with open(self.agent, "w") as f:  # each namespace host gets its own host name (UTS namespace)
            f.write('#!/bin/sh\nhost=$1; shift\nif [ "$host" = localhost ]; then exec sh -c "$*"; fi\n'
                    'exec ip netns exec "$host" unshare --uts sh -c \'hostname "$0" && exec sh -c "$1"\' "$host" "$*"\n')
        os.chmod(self.agent, 0o755)
        self.hostfile = os.path.join(tmp, "hosts")
        with open(self.hostfile, "w") as f:
            f.write("".join(f"{h} slots=1\n" for h in HOSTS))
        self.orte_tmp = os.path.join(tmp, "orte")
        os.makedirs(self.orte_tmp, exist_ok=True)
        self.slow_kind = None  # the SLOW_QDISCS entry the slow cells use
        self.no_slow = None  # why there is none (the slow cells' "n/a" reason)

    def up(self):
        """Namespace hosts on a bridge, as ../shared/tools/netns/netns-hosts.sh makes them
        (the same layout under this runner's own names), plus the front network."""
        self.down()
        cmds = [["ip", "link", "add", BRIDGE, "type", "bridge"], ["ip", "addr", "add", f"{CLUSTER}.1/24", "dev", BRIDGE],
                ["ip", "link", "set", BRIDGE, "up"]]
        for i, h in enumerate(HOSTS, 1):
            v, p = f"shfm-v{i}", f"shfm-p{i}"
            cmds += [["ip", "netns", "add", h], ["ip", "link", "add", v, "type", "veth", "peer", "name", p],
                     ["ip", "link", "set", p, "netns", h], ["ip", "link", "set", v, "master", BRIDGE],
                     ["ip", "link", "set", v, "up"],
                     ["ip", "netns", "exec", h, "ip", "addr", "add", f"{CLUSTER}.{10 + i}/24", "dev", p],
                     ["ip", "netns", "exec", h, "ip", "link", "set", p, "up"],
                     ["ip", "netns", "exec", h, "ip", "link", "set", "lo", "up"]]
        # The front network: root <-> rank 0's host, for the clients.
        cmds += [["ip", "link", "add", "shfm-f1", "type", "veth", "peer", "name", "shfm-g1"],
                 ["ip", "link", "set", "shfm-g1", "netns", HOSTS[0]],
                 ["ip", "addr", "add", f"{FRONT}.1/24", "dev", "shfm-f1"],
                 ["ip", "link", "set", "shfm-f1", "up"],
                 ["ip", "netns", "exec", HOSTS[0], "ip", "addr", "add", f"{FRONT}.11/24", "dev", "shfm-g1"],
                 ["ip", "netns", "exec", HOSTS[0], "ip", "link", "set", "shfm-g1", "up"]]
        for cmd in cmds:
            r = sh(cmd)
            if r.returncode != 0:
                self.down()
                return f"cannot create namespace hosts: {' '.join(cmd)}: {r.stderr.strip()}"
        self.set_hosts(True)
        # Which qdisc makes the slow link: netem (delay, jitter, random loss) where the
        # kernel has it, else tbf (a 128 kbit/s link whose queue holds 200 ms: the
        # delay of a congested link, and drops once it is full), else none.
        self.slow_kind, self.no_slow = None, None
        missing = []
        for kind, args in SLOW_QDISCS:
            r = sh(["ip", "netns", "exec", HOSTS[1], "tc", "qdisc", "add", "dev", "lo", "root", *args])
            if r.returncode == 0:
                sh(["ip", "netns", "exec", HOSTS[1], "tc", "qdisc", "del", "dev", "lo", "root"])
                self.slow_kind = kind
                break
            missing.append(f"sch_{kind} ({r.stderr.strip()!r})")
        if self.slow_kind is None:
            self.no_slow = f"this kernel ({os.uname().release}) has none of " + ", ".join(missing)
        return None

    def set_hosts(self, on):
        """Each host's name in /etc/hosts (mpirun and the daemons resolve them)."""
        try:
            lines = [l for l in open("/etc/hosts").read().splitlines() if not any(l.endswith(" " + h) for h in HOSTS)]
            if on:
                lines += [f"{CLUSTER}.{10 + i} {h}" for i, h in enumerate(HOSTS, 1)]
            with open("/etc/hosts", "w") as f:
                f.write("\n".join(lines) + "\n")
        except OSError as ex:
            print(f"faults: /etc/hosts: {ex}")

    def down(self):
        for h in HOSTS:
            for pid in ns_pids(h):
                for sig in (signal.SIGCONT, signal.SIGKILL):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
        for i, h in enumerate(HOSTS, 1):
            sh(["ip", "netns", "del", h])
            sh(["ip", "link", "del", f"shfm-v{i}"])
        sh(["ip", "link", "del", "shfm-f1"])
        sh(["ip", "link", "del", BRIDGE])
        self.set_hosts(False)

    def link(self, target, state):
        sh(["ip", "link", "set", VETH[target], state])

    def slow(self, target, on):
        # On the bridge side of the host's veth (egress to the host) and inside the host.
        dev = VETH[target]
        ns = HOSTS[0] if target == "rank0" else HOSTS[1]
        peer = dev.replace("shfm-v", "shfm-p")
        if on:
            args = dict(SLOW_QDISCS)[self.slow_kind]
            sh(["tc", "qdisc", "add", "dev", dev, "root", *args])
            sh(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", peer, "root", *args])
        else:
            # What the qdisc did while it was on (evidence that the fault landed): the
            # "Sent ... (dropped D, overlimits O ...)" line of each direction.
            stats = []
            for cmd in (["tc", "-s", "qdisc", "show", "dev", dev], ["ip", "netns", "exec", ns, "tc", "-s", "qdisc", "show",
                                                                      "dev", peer]):
                out = sh(cmd).stdout
                stats += [ln.strip() for ln in out.splitlines() if ln.strip().startswith("Sent")][:1]
            sh(["tc", "qdisc", "del", "dev", dev, "root"])
            sh(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", peer, "root"])
            return stats

    def heal(self):
        """Links up and each host able to complete a TCP connection to the bridge again."""
        for v in VETH.values():
            sh(["ip", "link", "set", v, "up"])
        sh(["ip", "neigh", "flush", "dev", BRIDGE])
        lsn = socket.socket()
        lsn.bind((f"{CLUSTER}.1", 0))
        lsn.listen(16)
        port = lsn.getsockname()[1]
        probe = f"import socket; socket.create_connection(('{CLUSTER}.1', {port}), timeout=1)"
        try:
            for h in HOSTS:
                t0 = now()
                while now() - t0 < 10:
                    sh(["ip", "netns", "exec", h, "ip", "neigh", "flush", "all"])
                    if sh(["ip", "netns", "exec", h, sys.executable, "-c", probe]).returncode == 0:
                        break
                    time.sleep(0.2)
        finally:
            lsn.close()

    def sweep(self):
        """Kills whatever is left in the namespaces (after the cell's leftovers were counted)."""
        for h in HOSTS:
            for pid in ns_pids(h):
                for sig in (signal.SIGCONT, signal.SIGKILL):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
        time.sleep(0.2)
        shutil.rmtree(self.orte_tmp, ignore_errors=True)
        os.makedirs(self.orte_tmp, exist_ok=True)


class Server:
    def __init__(self, cl, bin_path, model, serve_args, env=None, hb=HB, floor=FLOOR):
        self.cl, self.model = cl, model
        self.run_dir = tempfile.mkdtemp(prefix="cell-", dir=cl.tmp)
        self.port = 18000 + os.getpid() % 1000 + len(os.listdir(cl.tmp))
        self.host = f"{FRONT}.11"
        self.env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", MODEL=model,
                        RANKS="2", HOST=self.host, PORT=str(self.port), RUN_DIR=self.run_dir, WAIT_S="90",
                        SHARDLM_BIN=bin_path, HOSTFILE=cl.hostfile, RSH_AGENT=cl.agent, NET=NET,
                        STOP_TIMEOUT="15", SIGKILL_TIMEOUT_S=str(SIGKILL_S), OMPI_MCA_mpi_yield_when_idle="1",
                        OMPI_MCA_orte_tmpdir_base=cl.orte_tmp, **(env or {}))
        self.args = ["--heartbeat-timeout-s", str(hb), "--ping-interval-s", str(PING),
                     "--collective-timeout-floor-s", str(floor), "--drain-timeout-s", "20", "--max-num-seqs", "4",
                     *serve_args]
        r = sh(["bash", os.path.join(ROOT, "launch", "launch_baseline.sh"), *self.args], env=self.env, timeout=150)
        self.started = r.returncode == 0
        self.start_err = "" if self.started else (r.stderr.strip()[-400:] + self.log()[-800:])
        self.uri = ""
        try:
            self.uri = open(os.path.join(self.run_dir, "mpirun.uri")).read().split("\n")[0].strip()
        except OSError:
            pass

    def log(self):
        out = ""
        for name in ["server.log"] + sorted(f for f in os.listdir(self.run_dir) if f.startswith("rank") and f.endswith(".log")):
            try:
                out += open(os.path.join(self.run_dir, name), errors="replace").read()
            except OSError:
                pass
        return out

    def markers(self):
        m = [os.path.join(self.run_dir, "rank{rank}.log")]
        if self.uri and ";" in self.uri:
            jobfam, hnp = self.uri.split(";")[0], self.uri.split(";")[1]
            m += [jobfam + ";" + hnp]
        return m

    def rank_pid(self, rank):
        marker = os.path.join(self.run_dir, "rank{rank}.log")
        mine = set(procs_with(marker))
        return [p for p in ns_pids(HOSTS[rank]) if p in mine and is_shardlm(p)]

    def ranks_alive(self):
        marker = os.path.join(self.run_dir, "rank{rank}.log")
        return [p for p in procs_with(marker) if is_shardlm(p)]

    def conn(self, timeout):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, timeout=30):
        c = self.conn(timeout)
        c.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        text = r.read().decode(errors="replace")
        c.close()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text

    def stop(self):
        t0 = now()
        try:
            r = sh(["bash", os.path.join(ROOT, "launch", "stop_server.sh")], env=self.env, timeout=120)
            rc, err = r.returncode, r.stderr
        except subprocess.TimeoutExpired:
            rc, err = 124, "stop_server.sh did not finish in 120 s"
        ended = [l.split("still alive on ", 1)[1] for l in err.splitlines() if "still alive on " in l]
        return rc, now() - t0, ended, err


class Call(threading.Thread):
    """One request in its own thread: outcome completed / error / hung, and when it ended."""

    def __init__(self, srv, body, timeout, path="/v1/completions", stream=False, what="request"):
        super().__init__(daemon=True)
        self.srv, self.body, self.timeout, self.path, self.stream, self.what = srv, body, timeout, path, stream, what
        self.outcome, self.detail, self.end, self.first = None, "", None, None
        self.text, self.chunks = "", 0

    def run(self):
        try:
            c = self.srv.conn(self.timeout)
            body = dict(self.body, stream=True) if self.stream else self.body
            c.request("POST", self.path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
            r = c.getresponse()
            if self.stream and r.status == 200:
                done, err = False, None
                for line in r:
                    line = line.decode(errors="replace").rstrip("\r\n")
                    if line == "data: [DONE]":
                        done = True
                        break
                    if line.startswith("data: "):
                        ev = json.loads(line[6:])
                        if "error" in ev:
                            err = ev["error"].get("message", "")
                        elif ev.get("choices"):
                            self.first = self.first or now()
                            self.chunks += 1
                            self.text += ev["choices"][0].get("text", "")
                self.outcome = "completed" if done and err is None else "error"
                self.detail = err or ("" if done else "stream cut")
            else:
                text = r.read().decode(errors="replace")
                self.outcome = "completed" if r.status == 200 else "error"
                self.detail = "" if r.status == 200 else f"{r.status} {text[:100]}"
            c.close()
        except socket.timeout:
            self.outcome, self.detail = "hung", f"no answer in {self.timeout} s"
        except Exception as ex:  # reset, refused, cut short: an error the client sees
            self.outcome, self.detail = "error", type(ex).__name__
        self.end = now()


class Background(threading.Thread):
    """A well-behaved client: one short request every 0.3 s until stopped."""

    def __init__(self, srv, timeout):
        super().__init__(daemon=True)
        self.srv, self.timeout, self.calls, self.stop_flag = srv, timeout, [], False

    def run(self):
        while not self.stop_flag:
            c = Call(self.srv, {"prompt": PROMPT, "max_tokens": 4, "temperature": 0}, self.timeout, what="background")
            c.run()
            self.calls.append(c)
            time.sleep(0.3)


class HealthPoll(threading.Thread):
    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv, self.samples, self.stop_flag = srv, [], False

    def run(self):
        while not self.stop_flag:
            t = now()
            try:
                st, _ = self.srv.request("GET", "/health", timeout=1.0)
            except Exception as ex:  # noqa: BLE001
                st = type(ex).__name__
            self.samples.append((t, st))
            time.sleep(0.1)


def audits(run_dir):
    out = {}
    for f in sorted(os.listdir(run_dir)):
        if f.startswith("rank") and f.endswith(".log"):
            for line in open(os.path.join(run_dir, f), errors="replace"):
                if "EXIT AUDIT: rank=" in line:
                    body = line.split("EXIT AUDIT: ", 1)[1].strip()
                    fields = dict(kv.split("=", 1) for kv in body.split(", ") if "=" in kv)
                    out[int(fields["rank"])] = fields.get("cause", "?")
    return out


def wait_first(pred, limit, step=0.05):
    t0 = now()
    while now() - t0 < limit:
        if pred():
            return True
        time.sleep(step)
    return False


def run_cell(cl, opt, fault, target, phase):
    cell = {"fault": fault, "target": target, "phase": phase}
    if fault == "slow" and cl.no_slow:
        cell.update(status="n/a", reason=cl.no_slow)
        return cell
    if fault == "slow":
        cell["slow_qdisc"] = cl.slow_kind
    serve_args, env = [], {}
    if phase == "loading":
        # A load's deadline after its first layer is derived: max(k x the slowest layer,
        # --load-timeout-floor-s (default 30 s)), at most SHARDLM_EVAL_TIMEOUT: these cells
        # set the floor to EVAL_S so that a lost rank is found within the cell.
        serve_args += ["--test-load-delay-ms", "400", "--load-timeout-floor-s", str(EVAL_S)]
    if phase == "prefill":
        # The pause is part of every measured prompt step: a derived deadline would grow
        # with it (as it should for a slow model), so these cells run with a fixed one.
        serve_args += ["--test-prefill-delay-ms", "3000", "--collective-timeout-s", str(PREFILL_DEADLINE)]
    if phase in ("decode", "draining"):
        # The phase must outlast the fault on any machine (stories260K decodes thousands of
        # tokens a second): every decode step pauses, so a decode cell's 1000-token streams
        # take ~20 s and a drain's 300-token streams ~6 s (within --drain-timeout-s 20).
        serve_args += ["--test-decode-delay-ms", str(DECODE_STEP_MS)]
    heals = fault in ("cut_restore", "slow")
    hb, floor = (HEAL_HB, HEAL_FLOOR) if heals else (HB, FLOOR)
    if heals and phase == "prefill":
        serve_args[-1] = str(max(PREFILL_DEADLINE, HEAL_FLOOR))  # --collective-timeout-s
    srv = Server(cl, opt.bin, opt.model, serve_args, env, hb=hb, floor=floor)
    if not srv.started:
        cell.update(status="FAIL", reason="the server did not start: " + srv.start_err[-300:])
        srv.stop()
        cl.sweep()
        return cell
    try:
        for _ in range(WARM if phase != "prefill" else 0):
            srv.request("POST", "/v1/completions", {"prompt": PROMPT, "max_tokens": 2})
        st, status = srv.request("GET", "/admin/status")
        deadline = status.get("steps", {}).get("collective_timeout_seconds") if isinstance(status, dict) else None
    except Exception:  # noqa: BLE001
        deadline = None
    deadline = float(deadline) if isinstance(deadline, (int, float)) else floor
    bound = max(hb, deadline, EVAL_S if phase == "loading" else 0) + SLACK  # detection
    # every rank gone: detection, then mpirun's teardown (SIGCONT, SIGTERM, SIGKILL this
    # far apart, its own node first, then each other node: 4 x SIGKILL_S for a frozen rank)
    settle_bound = bound + 4 * SIGKILL_S
    cell["bound_s"] = round(bound, 1)
    cell["settle_bound_s"] = round(settle_bound, 1)
    victim_rank = 0 if target == "rank0" else 1
    victims = srv.rank_pid(victim_rank)
    if not victims:
        # No rank process to fault (it never started, or --bin names another program): a
        # cell that cannot land its fault must not pass.
        cell.update(status="FAIL", reason=f"no rank {victim_rank} process of this run found before the fault")
        srv.stop()
        cl.sweep()
        return cell
    calls = []
    # As long as the context allows: the streams must outlast the moment of the fault.
    long = {"prompt": PROMPT, "max_tokens": 2000, "ignore_eos": True, "temperature": 0}
    ctimeout = settle_bound + 15 if fault not in ("cut_restore", "slow") else 120
    hp = HealthPoll(srv)
    hp.start()
    bg = Background(srv, ctimeout)
    bg.start()
    # --- the phase ---
    if phase == "idle":
        time.sleep(0.5)
    elif phase == "loading":
        c = Call(srv, {}, ctimeout, path="/admin/load", what="admin load")
        c.start()
        calls.append(c)
        time.sleep(1.0)  # 5 layers x 400 ms on each rank: mid-load
    elif phase == "prefill":
        c = Call(srv, {"prompt": PROMPT + " there was a little girl named Lily", "max_tokens": 8, "temperature": 0},
                 ctimeout, stream=True, what="prefill")
        c.start()
        calls.append(c)
        time.sleep(1.0)  # inside the 3 s pause of the prompt step
    elif phase in ("decode", "draining"):
        # A drain must end within --drain-timeout-s (20 s): 300 tokens x DECODE_STEP_MS, ~6 s
        # plus a cut's 2 s, leave room; a decode cell's 1000 tokens (~20 s) outlast the fault.
        body = dict(long, max_tokens=1000 if phase == "decode" else 300)
        for _ in range(2):
            c = Call(srv, body, ctimeout, stream=True, what="stream")
            c.start()
            calls.append(c)
        wait_first(lambda: all(c.first or c.end for c in calls), 20)
        if phase == "draining":
            r0 = srv.rank_pid(0)
            for p in r0:
                os.kill(p, signal.SIGTERM)
            time.sleep(0.1)
    cell["phase_ok"] = all(c.end is None for c in calls)  # the phase's requests were still running
    # --- the fault ---
    t0 = now()
    restored = None
    if fault in ("kill9", "sigstop"):
        # A victim may be gone already (a draining server that had little left to drain
        # stops within the 0.1 s above): recorded, not an error of the matrix.
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL if fault == "kill9" else signal.SIGSTOP)
            except ProcessLookupError:
                cell.setdefault("victims_gone_before_fault", []).append(p)
    elif fault in ("cut", "cut_restore"):
        cl.link(target, "down")
    elif fault == "slow":
        cl.slow(target, True)
    if fault == "cut_restore":
        # A request sent during the cut: it waits for the link or gets an error, never hangs.
        late = Call(srv, {"prompt": PROMPT, "max_tokens": 8, "temperature": 0}, ctimeout, what="sent during cut")
        late.start()
        calls.append(late)
        time.sleep(opt.cut_s)
        cl.link(target, "up")
        restored = now()
    elif fault == "slow":
        time.sleep(opt.cut_s)
        cell["slow_stats"] = cl.slow(target, False)
        restored = now()
    # --- settle: every rank gone, or (restore / slow) the server answers again ---
    recovered = None
    limit = settle_bound + 5
    while now() - t0 < limit + (opt.cut_s if restored else 0):
        if not srv.ranks_alive():
            break
        if restored and phase != "draining":
            try:
                # A prefill cell's probe pauses 3 s in its own prompt step, behind the others.
                st, _ = srv.request("POST", "/v1/completions", {"prompt": PROMPT, "max_tokens": 4},
                                    timeout=5 if phase != "prefill" else 15)
                if st == 200:
                    recovered = now()
                    break
            except Exception:  # noqa: BLE001
                pass
        time.sleep(0.1)
    t_settle = recovered or (now() if not srv.ranks_alive() else None)
    bg.stop_flag = True
    hp.stop_flag = True
    for c in calls:
        c.join(ctimeout + 5)
    bg.join(ctimeout + 5)
    hp.join(5)
    if fault == "sigstop":
        for p in victims:
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass
    # --- detection ---
    signs = [t for t, st in hp.samples if t >= t0 and st != 200]
    signs += [c.end for c in calls + bg.calls if c.end and c.end >= t0 and c.outcome != "completed"]
    gone_at = None
    if not srv.ranks_alive():
        gone_at = t_settle
    if fault in ("kill9",):
        signs.append(t0)  # the process is gone at once; the reaction is below
        signs = [s for s in signs if s > t0] or [t0]
    cell["detect_s"] = round(min(signs) - t0, 2) if signs else None
    cell["settle_s"] = round(t_settle - t0, 2) if t_settle else None
    cell["outcome"] = "recovered" if recovered else ("exited" if gone_at else "still running")
    allc = calls + bg.calls
    cell["clients"] = {k: sum(1 for c in allc if c.outcome == k) for k in ("completed", "error", "hung")}
    cell["client_details"] = [f"{c.what}: {c.outcome}{' (' + c.detail + ')' if c.detail else ''}"
                              for c in calls] + sorted({f"background: {c.outcome} ({c.detail[:60]})"
                                                        for c in bg.calls if c.outcome != "completed"})
    if fault == "cut_restore" and restored:
        late = [c for c in calls if c.what == "sent during cut"][0]
        cell["late_done_after_link_s"] = round(late.end - restored, 2) if late.end else None
    # --- stop (as a user would), then leftovers by the run's ids ---
    markers = srv.markers()
    alive_before = [f"{n}:{p}" for p in procs_with(*markers) if (n := proc_name(p))]
    cell["alive_before_stop"] = alive_before
    cl.heal()
    rc, dt, ended, err = srv.stop()
    time.sleep(0.3)
    left = [f"{n}:{p}" for p in procs_with(*markers) if (n := proc_name(p))]
    left += [f"{n}:{p}@{h}" for h in HOSTS for p in ns_pids(h) if (n := proc_name(p))]
    cell["stop"] = {"rc": rc, "s": round(dt, 1), "ended": ended}
    cell["leftovers"] = sorted(set(left))
    a = audits(srv.run_dir)
    need = [r for r in (0, 1) if not (fault == "kill9" and r == victim_rank)]
    cell["audit"] = {r: a.get(r, "none") for r in (0, 1)}
    cell["audit_ok"] = all(r in a for r in need)
    problems = []
    if cell["clients"]["hung"]:
        problems.append("hung clients")
    if cell["leftovers"]:
        problems.append("leftovers")
    if not cell["audit_ok"]:
        problems.append("EXIT AUDIT missing on rank " + ",".join(str(r) for r in need if r not in a))
    if fault in ("cut_restore", "slow"):
        # The phase's own requests run through the fault and complete; one sent during
        # the cut completes or gets a 503 (loading, draining); a draining server then
        # exits cleanly instead of answering again.
        streams = [c for c in calls if c.what in ("stream", "prefill", "admin load")]
        late_ok = all(c.outcome == "completed" or c.detail.startswith("503") for c in calls if c.what == "sent during cut")
        if phase == "draining":
            if a.get(0) != "server_shutdown" or a.get(1) != "worker_loop_exit":
                problems.append("the drain did not end in a clean shutdown")
        elif not recovered:
            problems.append("did not recover")
        if any(c.outcome != "completed" for c in streams) or not late_ok:
            problems.append("a request through the fault failed")
    else:
        if cell["detect_s"] is None or cell["detect_s"] > bound:
            problems.append(f"not detected within {bound:.0f} s")
        if t_settle is None or t_settle - t0 > settle_bound:
            problems.append(f"ranks not all gone within {settle_bound:.0f} s")
    if not cell["phase_ok"]:
        problems.append("phase over before the fault")
    cell["status"] = "pass" if not problems else "FAIL"
    cell["problems"] = problems
    cell["run_dir"] = srv.run_dir
    cl.sweep()
    return cell


def matrix_md(cells, meta):
    lines = [f"Fault matrix: {meta}", "",
             "| fault | target | phase | status | detect s | settle s | outcome | clients ok/err/hung | leftovers | "
             "EXIT AUDIT r0 / r1 | notes |", "| --- | --- | --- | --- | ---: | ---: | --- | --- | ---: | --- | --- |"]
    for c in cells:
        if c["status"] == "n/a":
            lines.append(f"| {c['fault']} | {c['target']} | {c['phase']} | n/a | | | | | | | {c['reason']} |")
            continue
        cl = c.get("clients", {})
        notes = "; ".join(c.get("problems", []))
        if c.get("late_done_after_link_s") is not None:
            notes += ("; " if notes else "") + f"request sent during the cut done {c['late_done_after_link_s']} s after the link"
        if c.get("slow_stats"):
            notes += ("; " if notes else "") + f"{c.get('slow_qdisc')}: " + " / ".join(c["slow_stats"])[:160]
        if c.get("stop", {}).get("ended"):
            notes += ("; " if notes else "") + "stop_server.sh ended " + ", ".join(c["stop"]["ended"])[:120]
        if c.get("reason"):
            notes += c["reason"][:200]
        au = c.get("audit", {})
        lines.append(f"| {c['fault']} | {c['target']} | {c['phase']} | {c['status']} | {c.get('detect_s', '')} | "
                     f"{c.get('settle_s', '')} | {c.get('outcome', '')} | {cl.get('completed', '')}/{cl.get('error', '')}/"
                     f"{cl.get('hung', '')} | {len(c.get('leftovers', []))} | {au.get(0, '')} / {au.get(1, '')} | {notes} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "shardlm"))
    ap.add_argument("--model", default=os.path.join(SHARED, "models", "stories260K", "stories260K.gguf"))
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "faults-" + time.strftime("%Y%m%d-%H%M%S")))
    ap.add_argument("--faults", default=",".join(FAULTS))
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--phases", default=",".join(PHASES))
    ap.add_argument("--reduced", action="store_true", help=f"only the cells {REDUCED}")
    ap.add_argument("--cut-s", type=float, default=2.0, help="cut_restore / slow: how long the fault lasts")
    opt = ap.parse_args()
    BIN_NAME[0] = os.path.basename(opt.bin).encode()
    if os.geteuid() != 0:
        print("faults: needs root (network namespaces)")
        return 2
    for tool in ("mpirun", "ip", "unshare", "tc"):
        if shutil.which(tool) is None:
            print(f"faults: {tool} not found")
            return 2
    if not os.path.exists(opt.model) or not os.access(opt.bin, os.X_OK):
        print(f"faults: model {opt.model} or binary {opt.bin} missing")
        return 2
    busy = [n for n in sh(["ip", "netns", "list"]).stdout.split() if n in HOSTS and ns_pids(n)]
    if busy:
        print(f"faults: namespaces {busy} are in use (another multi-host run?)")
        return 2
    if opt.reduced:
        todo = REDUCED
    else:
        todo = [(f, t, p) for f in opt.faults.split(",") for t in opt.targets.split(",") for p in opt.phases.split(",")]
    os.makedirs(opt.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="shardlm-faults-")
    cl = Cluster(tmp)
    err = cl.up()
    if err:
        print("faults:", err)
        shutil.rmtree(tmp, ignore_errors=True)
        return 2
    cells = []
    t_start = now()
    try:
        for f, t, p in todo:
            t1 = now()
            cell = run_cell(cl, opt, f, t, p)
            cell["cell_s"] = round(now() - t1, 1)
            cells.append(cell)
            print(f"cell {f} {t} {p}: {cell['status']} {'; '.join(cell.get('problems', [])) or cell.get('reason', '')}"
                  f" (detect {cell.get('detect_s')} s, settle {cell.get('settle_s')} s, clients {cell.get('clients')},"
                  f" leftovers {cell.get('leftovers')}, audit {cell.get('audit')}, {cell['cell_s']} s)", flush=True)
            with open(os.path.join(opt.out, "cells.json"), "w") as fh:
                json.dump(cells, fh, indent=1)
    finally:
        cl.down()
    meta = (f"{len(cells)} cells, 2 ranks on 2 namespace hosts, model {os.path.basename(opt.model)}, heartbeat {HB} s, "
            f"collective floor {FLOOR} s (restored cuts: {HEAL_HB} s and {HEAL_FLOOR} s), cut {opt.cut_s} s, "
            f"slow link {cl.slow_kind or 'n/a'}, "
            f"{now() - t_start:.0f} s in all")
    md = matrix_md(cells, meta)
    with open(os.path.join(opt.out, "matrix.md"), "w") as fh:
        fh.write(md)
    print(md)
    print(f"faults: results in {opt.out}")
    failed = [c for c in cells if c["status"] == "FAIL"]
    if not failed:
        for c in cells:
            shutil.rmtree(c.get("run_dir", ""), ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"faults: {len(failed)} cells failed; server logs kept under {tmp}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
