"""Helpers shared by the script tests: locating things, running the binary under mpirun."""
import os
import shutil
import subprocess
import sys

SOURCE = os.environ.get("SHARDLM_SOURCE", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
SHARED = os.environ.get("SHARDLM_SHARED", os.path.join(SOURCE, "..", "shared"))
BIN = os.environ.get("SHARDLM_BIN", os.path.join(SOURCE, "build", "shardlm"))
PYTHON = os.environ.get("SHARDLM_PYTHON", "/usr/bin/python3")
SKIP = 77


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(SKIP)


def hold_netns_hosts(timeout_s=1800):
    """Takes the machine-wide lock of ../shared/tools/netns's namespace hosts (shlm-h*,
    10.77.0.0/24, one set per machine): two runs at once (two checkouts' test suites, a
    benchmark beside a test) would cut each other's links. Waits for the holder, saying
    so; skips after timeout_s. The lock lasts as long as the returned file is open."""
    import fcntl
    import time
    d = "/run/lock" if os.path.isdir("/run/lock") else "/tmp"
    f = open(os.path.join(d, "shardlm-netns-hosts.lock"), "w")
    t0 = time.time()
    said = False
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            if not said:
                print("waiting: another run holds the namespace hosts (shlm-h*)", flush=True)
                said = True
            if time.time() - t0 > timeout_s:
                skip(f"the namespace hosts stayed in use for {timeout_s} s")
            time.sleep(1)


def need_shared(*parts):
    p = os.path.join(SHARED, "models", *parts)
    if not os.path.exists(p):
        skip(f"{p} not found (../shared is absent)")
    return p


def mpirun(n, args, timeout=300, env=None, check=True):
    """Runs `shardlm ARGS` on n ranks; returns CompletedProcess (text)."""
    cmd = ["mpirun", "-n", str(n), "--oversubscribe", "--bind-to", "none", BIN] + args
    e = dict(os.environ)
    e.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
    if env:
        e.update(env)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e)
    if check and r.returncode != 0:
        print("command:", " ".join(cmd))
        print("stdout:", r.stdout[-4000:])
        print("stderr:", r.stderr[-8000:])
        raise SystemExit(f"FAIL: exit code {r.returncode}")
    return r


def run(args, timeout=300, check=True):
    r = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        print("stderr:", r.stderr[-8000:])
        raise SystemExit(f"FAIL: shardlm {' '.join(args)} exited {r.returncode}")
    return r


# Run directories of servers started by this test (serverlib.Server): removed when the
# test passes, kept (and named) when it fails.
RUN_DIRS = []


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
            print(f"ok: {what}")
        else:
            self.failed += 1
            print(f"FAIL: {what}")

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        if self.failed:
            if RUN_DIRS:
                print("server logs kept in: " + " ".join(RUN_DIRS))
        else:
            for d in RUN_DIRS:
                shutil.rmtree(d, ignore_errors=True)
        sys.exit(1 if self.failed else 0)
