#!/usr/bin/python3
"""How fast a short link cut heals (issue 19 point 2): a 2-rank server on two hosts
(this machine's root namespace and one network namespace host, over TCP), three greedy
streams running, the link cut for CUT seconds, a request sent during the cut; prints for
each cut the seconds from the link's return to that request's first token and to its
end, then the medians, for each --tcp-rto-max-ms value given. Needs root and `ip netns`
(../shared/tools/netns).

  sudo bench/partition-heal.py [--cut 2] [--cuts 5] [--rto 0,1000]

--rto 0 leaves the kernel's TCP retransmission backoff (doubling from ~200 ms, capped
at 120 s); 1000 caps it at 1 s on every rank's sockets (Linux 6.15 or later)."""
import argparse
import os
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
ap.add_argument("--cuts", type=int, default=5, help="cuts per setting")
ap.add_argument("--rto", default="0,1000", help="--tcp-rto-max-ms values to compare")
ap.add_argument("--tokens", type=int, default=600, help="tokens of each background stream")
ap.add_argument("--how", choices=["link", "bridge"], default="link",
                help="link: the host's link down (both hosts' TCP sees carrier loss or a local drop); bridge: the "
                     "bridge port stops forwarding (a cut further along the path: no host sees a local error)")
args = ap.parse_args()

NETNS = os.path.join(SHARED, "tools", "netns")
gguf = os.path.join(SHARED, "models", "stories260K", "stories260K.gguf")
if os.geteuid() != 0 or not os.path.exists(os.path.join(NETNS, "netns-hosts.sh")) or not os.path.exists(gguf):
    sys.exit("needs root, ../shared/tools/netns and the stories260K model")
os.environ["OMPI_MCA_mpi_yield_when_idle"] = "1"  # the namespace hosts share this machine's cores
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


def stream(srv, n, out):
    """Streams a greedy completion; appends (first chunk time, end time, chunks, done)."""
    import json
    first, chunks, done = None, 0, False
    try:
        c = srv.conn(300)
        c.request("POST", "/v1/completions", body=json.dumps({"prompt": "Once upon a time", "max_tokens": n, "stream": True,
                                                               "ignore_eos": True, "temperature": 0}).encode(),
                  headers={"Content-Type": "application/json"})
        for line in c.getresponse():
            if line.startswith(b"data: [DONE]"):
                done = True
                break
            if line.startswith(b"data: "):
                chunks += 1
                first = first or time.time()
    except OSError:
        pass
    out.append((first, time.time(), chunks, done))


results = {}
try:
    for rto in [int(x) for x in args.rto.split(",")]:
        srv = Server(gguf, ranks=2, args=["--tcp-rto-max-ms", str(rto), "--max-num-seqs", "4", "--heartbeat-timeout-s", "30",
                                          "--ping-interval-s", "0.5"],
                     env={"HOSTFILE": hostfile, "RSH_AGENT": agent, "NET": "10.77.0.0/24", "SIGKILL_TIMEOUT_S": "2",
                          "SHARDLM_COLLECTIVE_TIMEOUT": "30", "LOG_LEVEL": "debug"}, wait_s=60)
        firsts, ends = [], []
        try:
            for k in range(args.cuts):
                bg = []
                ts = [threading.Thread(target=stream, args=(srv, args.tokens, bg)) for _ in range(3)]
                for t in ts:
                    t.start()
                time.sleep(0.5)
                link("down")
                late = []
                lt = threading.Thread(target=stream, args=(srv, 40, late))
                lt.start()
                time.sleep(args.cut)
                t_up = time.time()
                link("up")
                lt.join(300)
                for t in ts:
                    t.join(300)
                f, e, n, done = late[0]
                ok = done and all(b[3] for b in bg)
                firsts.append(f - t_up if f else float("nan"))
                ends.append(e - t_up)
                print(f"rto {rto}: cut {k + 1}: first token {firsts[-1]:.2f} s, done {ends[-1]:.2f} s after the link "
                      f"came back ({n} chunks, every stream complete: {ok})", flush=True)
                time.sleep(1)
        finally:
            log = srv.log()
            srv.stop()
        capped = [ln for ln in log.splitlines() if "TCP retransmission backoff capped" in ln or "TCP_RTO_MAX_MS" in ln]
        print(f"rto {rto}: {capped[-1] if capped else 'no TCP backoff line in the log'}")
        results[rto] = (statistics.median(firsts), max(firsts), statistics.median(ends), max(ends))
finally:
    link("up")
    subprocess.run(hosts_sh + ["down", "1"], capture_output=True)  # the set made above
for rto, (fm, fx, em, ex) in results.items():
    print(f"--tcp-rto-max-ms {rto}: cut ({args.how}) {args.cut} s x {args.cuts}: first token after the link came back median "
          f"{fm:.2f} s (max {fx:.2f}), request done median {em:.2f} s (max {ex:.2f})")
