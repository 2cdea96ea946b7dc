#!/usr/bin/python3
"""How fast a short link cut heals (issue 19 point 2): a 2-rank server on two hosts
(this machine's root namespace and one network namespace host, over TCP), three greedy
streams running (test-multihost case 7's load: --max-num-seqs 4, 2000 tokens each by
default), the link cut for CUT seconds as soon as the streams decode, a 40-token
streamed request sent during the cut; prints for each cut the seconds from the link's
return to that request's first token and to its end, the longest gap between its
tokens and between the streams' tokens after the return, then the distribution
(median, p90, max, how many past 5 s), for each --tcp-rto-max-ms value given. Needs root
and `ip netns` (../shared/tools/netns).

  sudo bench/partition-heal.py [--cut 2] [--cuts 20] [--rto 0] [--how link|bridge] [--trace DIR] [--json FILE]

--rto 0 leaves the kernel's TCP retransmission backoff (doubling from ~200 ms, capped
at 120 s); 1000 caps it at 1 s on every rank's sockets (Linux 6.15 or later).
--trace DIR: for each cut, every 100 ms `ss -tino` of both ranks' TCP sockets
(retransmissions, rto, backoff, cwnd, the retransmission timer), `ip -ts monitor neigh`
on both hosts, /health every 100 ms and every token's arrival time, in DIR/rtoR-cutK/."""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "scripts"))
from serverlib import Server  # noqa: E402
from testlib import SHARED, hold_netns_hosts  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--cut", type=float, default=2.0, help="seconds the link is down")
ap.add_argument("--cuts", type=int, default=20, help="cuts per setting")
ap.add_argument("--rto", default="0", help="--tcp-rto-max-ms values to compare, e.g. 0,1000")
ap.add_argument("--tokens", type=int, default=2000, help="tokens of each background stream")
ap.add_argument("--late-tokens", type=int, default=40, help="tokens of the request sent during the cut")
ap.add_argument("--how", choices=["link", "bridge"], default="link",
                help="link: the host's link down (both hosts' TCP sees carrier loss or a local drop); bridge: the "
                     "bridge port stops forwarding (a cut further along the path: no host sees a local error)")
ap.add_argument("--serve-args", default="", help="more flags for serve (space-separated)")
ap.add_argument("--mca", default="", help="Open MPI parameters for every rank, NAME=VALUE,NAME=VALUE (OMPI_MCA_*)")
ap.add_argument("--trace", default="", help="directory for per-cut traces (ss, neigh, /health, token times)")
ap.add_argument("--json", default="", help="write every cut's figures here")
args = ap.parse_args()

NETNS = os.path.join(SHARED, "tools", "netns")
R0, R1 = "10.77.0.1", "10.77.0.11"  # rank 0 (root namespace, the bridge), rank 1 (shlm-h1)
gguf = os.path.join(SHARED, "models", "stories260K", "stories260K.gguf")
if os.geteuid() != 0 or not os.path.exists(os.path.join(NETNS, "netns-hosts.sh")) or not os.path.exists(gguf):
    sys.exit("needs root, ../shared/tools/netns and the stories260K model")
os.environ["OMPI_MCA_mpi_yield_when_idle"] = "1"  # the namespace hosts share this machine's cores
for kv in filter(None, args.mca.split(",")):
    k, v = kv.split("=", 1)
    os.environ["OMPI_MCA_" + k] = v
tmp = tempfile.mkdtemp(prefix="shardlm-heal-")
os.environ["OMPI_MCA_orte_tmpdir_base"] = tmp
agent = os.path.join(tmp, "agent.sh")
with open(agent, "w") as f:  # as test-multihost's: a host name per namespace
    f.write('#!/bin/sh\nhost=$1; shift\nif [ "$host" = localhost ]; then exec sh -c "$*"; fi\n'
            'exec ip netns exec "$host" unshare --uts sh -c \'hostname "$0" && exec sh -c "$1"\' "$host" "$*"\n')
os.chmod(agent, 0o755)
hostfile = os.path.join(tmp, "hosts")
with open(hostfile, "w") as f:
    f.write("localhost slots=1\nshlm-h1 slots=1\n")
NETNS_LOCK = hold_netns_hosts()  # no test or other run cuts these links meanwhile
hosts_sh = ["bash", os.path.join(NETNS, "netns-hosts.sh")]
# The namespace hosts are shared by everyone on this machine: never touch a set that
# exists (another run's, e.g. test-multihost's shlm-h1..h3), only the one made here.
existing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
if any(n.startswith("shlm-h") for n in existing):
    sys.exit(f"namespace hosts exist already ({[n for n in existing if n.startswith('shlm-h')]}): another run uses "
             "them; try again when it has finished")
subprocess.run(hosts_sh + ["up", "1"], check=True, capture_output=True)


def link(state):
    if args.how == "bridge":  # port state 0 disabled, 3 forwarding
        subprocess.run(["bridge", "link", "set", "dev", "shlm-v1", "state", "3" if state == "up" else "0"], check=True)
    else:
        subprocess.run(["ip", "link", "set", "shlm-v1", state], check=True)


class Stream(threading.Thread):
    """One greedy streamed completion: the arrival time of each token, [DONE]."""

    def __init__(self, srv, n):
        super().__init__(daemon=True)
        self.srv, self.n, self.times, self.done, self.end, self.text = srv, n, [], False, None, ""
        self.status, self.error = None, None

    def run(self):
        try:
            c = self.srv.conn(300)
            c.request("POST", "/v1/completions",
                      body=json.dumps({"prompt": "Once upon a time", "max_tokens": self.n, "stream": True,
                                       "ignore_eos": True, "temperature": 0}).encode(),
                      headers={"Content-Type": "application/json"})
            resp = c.getresponse()
            self.status = resp.status
            if resp.status != 200:
                self.error = resp.read().decode(errors="replace")[:200]
            for line in resp:
                if line.startswith(b"data: [DONE]"):
                    self.done = True
                    break
                if line.startswith(b"data: "):
                    ev = json.loads(line[6:])
                    if "error" in ev:
                        self.error = json.dumps(ev["error"])[:200]
                    if ev.get("choices"):
                        self.times.append(time.time())
                        self.text += ev["choices"][0].get("text", "")
        except (OSError, ValueError) as ex:
            self.error = f"{type(ex).__name__}: {ex}"[:200]
        self.end = time.time()


STALL = """
import time
def steal():
    return int(open('/proc/stat').readline().split()[8])
last, st = time.time(), steal()
while True:
    time.sleep(0.01)
    t = time.time()
    if t - last > 0.1:
        s = steal()
        run = [l for l in open('/proc/stat') if l.startswith('procs_running')][0].split()[1]
        print(f"{last:.3f} {t - last:.3f} steal_jiffies={s - st} running={run}", flush=True)
        st = s
    last = t
"""


class Tracer:
    """Samplers of one cut: ss on both hosts every 100 ms, neighbour events, /health."""

    def __init__(self, srv, out):
        self.srv, self.out, self.procs, self.health, self.stop_flag = srv, out, [], [], False
        os.makedirs(out, exist_ok=True)
        loop = "while :; do echo T $(date +%s.%N); ss -tino dst {dst}; sleep 0.1; done"
        for name, pre, dst in (("r0", [], R1), ("r1", ["ip", "netns", "exec", "shlm-h1"], R0)):
            for what, cmd in (("ss", pre + ["sh", "-c", loop.format(dst=dst)]), ("neigh", pre + ["ip", "-ts", "monitor", "neigh"])):
                self.procs.append(subprocess.Popen(cmd, stdout=open(os.path.join(out, f"{what}-{name}.txt"), "w"),
                                                   stderr=subprocess.DEVNULL, start_new_session=True))
        # Stalls of this machine itself (no process scheduled for a while): a process that
        # sleeps 10 ms in a loop logs each wake-up more than 100 ms late, with the steal
        # time (the hypervisor's) and the run queue of that moment.
        self.procs.append(subprocess.Popen([sys.executable, "-c", STALL], stdout=open(os.path.join(out, "stalls.txt"), "w"),
                                           stderr=subprocess.DEVNULL, start_new_session=True))
        # Which socket is whose: the ranks' and daemons' TCP sockets, once.
        for name, pre in (("r0", []), ("r1", ["ip", "netns", "exec", "shlm-h1"])):
            with open(os.path.join(out, f"owners-{name}.txt"), "w") as fh:
                subprocess.run(pre + ["ss", "-tnpe"], stdout=fh, stderr=subprocess.DEVNULL)
        self.th = threading.Thread(target=self.poll, daemon=True)
        self.th.start()

    def poll(self):
        while not self.stop_flag:
            t = time.time()
            try:
                st, _, body = self.srv.request("GET", "/health", timeout=1.0)
            except Exception as ex:  # noqa: BLE001
                st, body = type(ex).__name__, ""
            self.health.append((t, st, body))
            time.sleep(0.1)

    def close(self, extra):
        self.stop_flag = True
        self.th.join(3)
        for p in self.procs:  # our own samplers, by their process groups
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            p.wait()
        with open(os.path.join(self.out, "health.jsonl"), "w") as fh:
            for t, st, body in self.health:
                fh.write(json.dumps({"t": t, "status": st, "body": body}) + "\n")
        with open(os.path.join(self.out, "tokens.json"), "w") as fh:
            json.dump(extra, fh)


def gaps_after(times, t):
    """The longest gap between consecutive tokens from t on, and where it began (s after t)."""
    ts = [t] + [x for x in times if x >= t]
    best = (0.0, None)
    for a, b in zip(ts, ts[1:]):
        if b - a > best[0]:
            best = (b - a, a - t)
    return best


def one_cut(srv, k, rto):
    status0 = srv.request("GET", "/admin/status")[2]
    tr = Tracer(srv, os.path.join(args.trace, f"rto{rto}-cut{k + 1}")) if args.trace else None
    bg = [Stream(srv, args.tokens) for _ in range(3)]
    for s in bg:
        s.start()
    t0 = time.time()
    while not all(s.times or s.end for s in bg) and time.time() - t0 < 30:
        time.sleep(0.002)
    t_cut = time.time()
    link("down")
    late = Stream(srv, args.late_tokens)
    late.start()
    time.sleep(args.cut)
    t_up = time.time()
    link("up")
    late.join(300)
    for s in bg:
        s.join(300)
    status1 = srv.request("GET", "/admin/status")[2]
    pre = [st.get("kv_cache", {}).get("preemptions", 0) if isinstance(st, dict) else 0 for st in (status0, status1)]
    r = {"cut": k + 1, "rto": rto, "first": round(late.times[0] - t_up, 3) if late.times else None,
         "done": round(late.end - t_up, 3), "late_chunks": len(late.times), "late_ok": late.done,
         "streams_ok": all(s.done and not s.error for s in bg),
         "errors": [x.error for x in bg + [late] if x.error],
         "late_gap": [round(x, 3) if x is not None else None for x in gaps_after(late.times, t_up)],
         "streams_gap": max(([round(x, 3) if x is not None else None for x in gaps_after(s.times, t_up)] for s in bg),
                            key=lambda g: g[0]),
         "streams_left_at_up": [sum(1 for x in s.times if x >= t_up) for s in bg], "preemptions": pre[1] - pre[0]}
    if tr:
        tr.close({"t_cut": t_cut, "t_up": t_up, "late": late.times, "late_end": late.end,
                  "streams": [s.times for s in bg], "status_before": status0, "status_after": status1})
        time.sleep(0.5)
    print(f"rto {rto}: cut {k + 1}: first token {r['first']} s, done {r['done']} s after the link came back "
          f"({r['late_chunks']} chunks); longest gap of the request {r['late_gap'][0]} s (from +{r['late_gap'][1]} s), "
          f"of the streams {r['streams_gap'][0]} s (from +{r['streams_gap'][1]} s); every stream complete: "
          f"{r['streams_ok']}; preemptions {r['preemptions']}{'; errors ' + str(r['errors']) if r['errors'] else ''}", flush=True)
    return r


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


rows = []
try:
    for rto in [int(x) for x in args.rto.split(",")]:
        srv = Server(gguf, ranks=2, args=["--tcp-rto-max-ms", str(rto), "--max-num-seqs", "4", "--heartbeat-timeout-s", "30",
                                          "--ping-interval-s", "0.5", *args.serve_args.split()],
                     env={"HOSTFILE": hostfile, "RSH_AGENT": agent, "NET": "10.77.0.0/24", "SIGKILL_TIMEOUT_S": "2",
                          "SHARDLM_COLLECTIVE_TIMEOUT": "30", "LOG_LEVEL": "debug"}, wait_s=60)
        try:
            for k in range(args.cuts):
                rows.append(one_cut(srv, k, rto))
                time.sleep(1)
        finally:
            log = srv.log()
            srv.stop()
            if args.trace:
                with open(os.path.join(args.trace, f"rto{rto}-server.log"), "w") as fh:
                    fh.write(log)
        capped = [ln for ln in log.splitlines() if "TCP retransmission backoff capped" in ln or "TCP_RTO_MAX_MS" in ln]
        print(f"rto {rto}: {capped[-1] if capped else 'no TCP backoff line in the log'}")
finally:
    link("up")
    subprocess.run(hosts_sh + ["down", "1"], capture_output=True)  # the set made above
if args.json:
    with open(args.json, "w") as fh:
        json.dump({"args": vars(args), "cuts": rows}, fh, indent=1)
for rto in sorted({r["rto"] for r in rows}):
    rs = [r for r in rows if r["rto"] == rto]
    firsts = [r["first"] for r in rs if r["first"] is not None]
    dones = [r["done"] for r in rs]
    bad = sum(1 for r in rs if not (r["late_ok"] and r["streams_ok"]))
    print(f"--tcp-rto-max-ms {rto}: cut ({args.how}) {args.cut} s x {len(rs)}: first token after the link came back "
          f"median {statistics.median(firsts):.2f} s, p90 {pct(firsts, 0.9):.2f}, max {max(firsts):.2f}; request done "
          f"median {statistics.median(dones):.2f} s, p90 {pct(dones, 0.9):.2f}, max {max(dones):.2f}, "
          f"{sum(1 for d in dones if d > 5)} past 5 s; {bad} cuts with an incomplete request or stream")
