# label: multihost
"""`shardlm router` with a replica on another host: a network namespace made by
$SHARDLM_SHARED/tools/netns/netns-hosts.sh (shlm-h1, 10.77.0.11, on the bridge at
10.77.0.1), its whole mpirun job started inside it by launch/launch_baseline.sh, and a
second replica on loopback. The namespace host is cut off (`ip link set shlm-v1 down`)
while the router serves:
- detected: the health checks time out, its breaker opens and it is marked down;
- routed around: every request during the cut succeeds, on the loopback replica, with
  the greedy oracle's text;
- recovered: after the link is restored the health probe (and warm-up) closes the
  breaker, it is up again and takes requests again.
Needs root and `ip netns`; skipped (77) otherwise."""
import os
import shutil
import subprocess
import tempfile
import time

from routerlib import (leftovers, launch_replica, port_block, request, start_router, stop_replica, wait_for)
from testlib import RUN_DIRS, SHARED, Checks, hold_netns_hosts, need_shared, skip

NETNS = os.path.join(SHARED, "tools", "netns")
NS, NS_IP, BRIDGE_IP = "shlm-h1", "10.77.0.11", "10.77.0.1"
if os.geteuid() != 0:
    skip("needs root to create network namespaces")
if shutil.which("mpirun") is None or shutil.which("ip") is None:
    skip("mpirun or iproute2 (ip) missing")
if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
    skip("`ip netns` does not work here")
if not os.path.exists(os.path.join(NETNS, "netns-hosts.sh")):
    skip(f"{NETNS}/netns-hosts.sh not found (../shared is absent)")
MODEL = need_shared("stories260K", "stories260K.gguf")
existing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
if NS in existing and subprocess.run(["ip", "netns", "pids", NS], capture_output=True, text=True).stdout.split():
    skip(f"namespace {NS} is in use (another multi-host run?)")

NETNS_LOCK = hold_netns_hosts()  # held to the end: no other run cuts these links
HOSTS_SH = ["bash", os.path.join(NETNS, "netns-hosts.sh")]
c = Checks()
H = "127.0.0.1"
PORT = port_block(2)
RUN = tempfile.mkdtemp(prefix="shardlm-multihost-router-")
RUN_DIRS.append(RUN)
FAR = os.path.join(RUN, "replica-ns")
NEAR = os.path.join(RUN, "replica-lo")
FAR_URL, NEAR_URL = f"http://{NS_IP}:{PORT + 1}", f"http://{H}:{PORT + 2}"
REQ = {"prompt": "Once upon a time", "max_tokens": 24, "temperature": 0}
ROUTERS = []


def link(state):
    subprocess.run(["ip", "link", "set", "shlm-v1", state], check=True)


def heal():
    """The link up and usable again (stale neighbour entries flushed on both sides)."""
    link("up")
    subprocess.run(["ip", "neigh", "flush", "dev", "shlm-br0"], capture_output=True)
    subprocess.run(["ip", "netns", "exec", NS, "ip", "neigh", "flush", "all"], capture_output=True)


def backend(url):
    return next(b for b in request(H, PORT, "GET", "/admin/status")[2]["backends"] if b["url"] == url)


def main():
    subprocess.run(HOSTS_SH + ["down", "1"], capture_output=True)  # a stale one from a killed run
    up = subprocess.run(HOSTS_SH + ["up", "1"], capture_output=True, text=True)
    if up.returncode != 0:
        c.check(False, f"netns-hosts.sh up 1: {up.stderr[-300:]}")
        return
    ok = launch_replica(FAR, PORT + 1, host=NS_IP, prefix=["ip", "netns", "exec", NS], env={"MODEL": MODEL})
    c.check(ok, f"a replica started inside {NS} ({FAR_URL})")
    ok = ok and launch_replica(NEAR, PORT + 2, env={"MODEL": MODEL})
    c.check(ok, f"a replica started on loopback ({NEAR_URL})")
    if not ok:
        return
    oracle = request(H, PORT + 2, "POST", "/v1/completions", REQ)[2]["choices"][0]["text"]
    far_text = request(NS_IP, PORT + 1, "POST", "/v1/completions", REQ)[2]["choices"][0]["text"]
    c.check(far_text == oracle, "both replicas give the same greedy text")
    router = start_router(PORT, [FAR_URL, NEAR_URL],
                          ["--health-interval-s", "0.3", "--health-timeout-s", "1", "--breaker-failures", "2",
                           "--breaker-cooldown-s", "1", "--first-token-timeout-s", "5", "--prefix-block-bytes", "0"],
                          log=os.path.join(RUN, "router.log"))
    ROUTERS.append(router)
    c.check(wait_for("2 backends up", lambda: request(H, PORT, "GET", "/admin/status")[2]["backends_up"] == 2),
            "the router sees both replicas up")

    link("down")
    t0 = time.time()
    c.check(wait_for("the cut host's breaker open",
                     lambda: backend(FAR_URL)["breaker"]["state"] != "closed" and backend(FAR_URL)["state"] == "down", 60),
            f"detected: the cut host is down with its breaker open ({backend(FAR_URL)['breaker']})")
    print(f"note: cut detected {time.time() - t0:.1f} s after the link went down")
    served = set()
    ok_all = True
    for k in range(10):
        st, hdr, body = request(H, PORT, "POST", "/v1/completions", REQ, timeout=60)
        served.add(hdr.get("x-shardlm-backend"))
        ok_all = ok_all and st == 200 and body["choices"][0]["text"] == oracle
    c.check(ok_all, "routed around: 10 requests during the cut succeed with the oracle's text")
    c.check(served == {NEAR_URL}, f"routed around: all on the loopback replica ({served})")

    heal()
    c.check(wait_for("the healed host up, breaker closed",
                     lambda: backend(FAR_URL)["state"] == "up" and backend(FAR_URL)["breaker"]["state"] == "closed", 90),
            f"recovered: up again with its breaker closed (opened {backend(FAR_URL)['breaker']['opened']} time(s))")
    before = backend(FAR_URL)["requests"]
    for k in range(10):  # two idle replicas tie on load; the choice then takes the first listed (this one)
        request(H, PORT, "POST", "/v1/completions", dict(REQ, prompt=f"Story {k}: once upon a time", max_tokens=4))
    after = backend(FAR_URL)["requests"]
    c.check(after > before, f"recovered: the healed host takes requests again ({after - before} of 10)")
    router.terminate()
    c.check(router.wait(60) == 0, "the router exits 0 on SIGTERM")


try:
    main()
finally:
    for r in ROUTERS:
        if r.poll() is None:
            r.kill()
            r.wait()
    try:
        heal()
    except subprocess.CalledProcessError:
        pass
    stop_replica(NEAR)
    stop_replica(FAR)
    time.sleep(0.5)
    left = leftovers(RUN)
    c.check(not left, f"stop_server.sh left no process of the run ({left})")
    ns_left = subprocess.run(["ip", "netns", "pids", NS], capture_output=True, text=True).stdout.split()
    c.check(not ns_left, f"nothing left in {NS} ({ns_left})")
    for pid in ns_left:
        try:
            os.kill(int(pid), 9)
        except OSError:
            pass
    subprocess.run(HOSTS_SH + ["down", "1"], capture_output=True)
c.finish()
