# label: e2e
"""Startup guards: a rank killed or frozen during load, the memory guard, corrupted
and truncated model files. Every case ends with a clear message, EXIT AUDIT lines
and a non-zero exit — never a hang, never a crash."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from testlib import BIN, Checks, mpirun, need_shared, run

gguf = need_shared("stories260K", "stories260K.gguf")
c = Checks()
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
gen = ["generate", "--model", gguf, "--prompt", "Once upon a time", "-n", "8", "--temp", "0"]


def start(n, extra_env, extra_args, log_file=None):
    e = dict(env, **extra_env)
    pre = ["--log-file", log_file] if log_file else []
    cmd = ["mpirun", "-n", str(n), "--oversubscribe", "--bind-to", "none", BIN] + pre + gen + extra_args
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e, start_new_session=True)


def rank_pids(p, rank):
    """PIDs of shardlm processes started by this mpirun, with the given rank."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if BIN.encode() not in cmd or b"generate" not in cmd:
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in environ and os.getsid(int(pid)) == os.getsid(p.pid):
            out.append(int(pid))
    return out


def wait_for_rank(p, rank, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        pids = rank_pids(p, rank)
        if pids:
            return pids
        time.sleep(0.1)
    return []


# 1. A rank frozen (SIGSTOP) during load: the others report eval_with_timeout TIMED OUT.
p = start(2, {"SHARDLM_EVAL_TIMEOUT": "4"}, ["--test-load-delay-ms", "500"])
pids = wait_for_rank(p, 1)
time.sleep(1.0)
t0 = time.time()
for pid in pids:
    os.kill(pid, signal.SIGSTOP)
try:
    out, err = p.communicate(timeout=60)
except subprocess.TimeoutExpired:
    os.killpg(p.pid, signal.SIGKILL)
    out, err = p.communicate()
elapsed = time.time() - t0
for pid in pids:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
c.check(p.returncode != 0, "frozen rank: non-zero exit")
c.check("eval_with_timeout TIMED OUT" in err, "frozen rank: eval_with_timeout TIMED OUT reported")
c.check("layer" in err.split("eval_with_timeout TIMED OUT")[-1][:200] if "eval_with_timeout TIMED OUT" in err else False,
        "frozen rank: the timed-out layer is named")
c.check("EXIT AUDIT: rank=0, cause=eval_timeout" in err, "frozen rank: rank 0 EXIT AUDIT cause=eval_timeout")
c.check(elapsed < 4 + 15, f"frozen rank: exit within the timeout (+slack): {elapsed:.1f}s")

# 2. A rank killed during load: the survivors exit with EXIT AUDIT lines.
logdir = tempfile.mkdtemp(prefix="shardlm-fault-")
p = start(2, {"SHARDLM_EVAL_TIMEOUT": "10"}, ["--test-load-delay-ms", "500"], os.path.join(logdir, "rank{rank}.log"))
pids = wait_for_rank(p, 1)
time.sleep(1.0)
t0 = time.time()
for pid in pids:
    os.kill(pid, signal.SIGKILL)
try:
    out, err = p.communicate(timeout=60)
except subprocess.TimeoutExpired:
    os.killpg(p.pid, signal.SIGKILL)
    out, err = p.communicate()
elapsed = time.time() - t0
c.check(p.returncode != 0, "killed rank: non-zero exit")
# mpirun stops forwarding output once it aborts the job: each rank's own log file has it.
r0log = open(os.path.join(logdir, "rank0.log")).read() if os.path.exists(os.path.join(logdir, "rank0.log")) else ""
audit = [l for l in r0log.splitlines() if "EXIT AUDIT: rank=0" in l]
c.check(len(audit) == 1, f"killed rank: the survivor logged its EXIT AUDIT ({audit})")
shutil.rmtree(logdir, ignore_errors=True)
c.check(not rank_pids(p, 0), "killed rank: no survivor process left")
c.check(elapsed < 10 + 10, f"killed rank: survivors gone within the timeout: {elapsed:.1f}s")

# 3. Memory guard above what is available: MemoryGuardError on every rank, no OOM.
r = mpirun(2, gen, env={"SHARDLM_MEMORY_GUARD_GB": "100000"}, check=False)
c.check(r.returncode != 0, "memory guard: non-zero exit")
c.check("MemoryGuardError" in r.stderr and "available" in r.stderr and "needed" in r.stderr,
        "memory guard: MemoryGuardError with figures")
c.check(r.stderr.count("cause=memory_guard") == 2, "memory guard: both ranks EXIT AUDIT cause=memory_guard")

# 4. Corrupted and truncated files: a clear error naming the file, on every rank count.
tmp = tempfile.mkdtemp()
try:
    data = open(gguf, "rb").read()
    cases = {
        "truncated.gguf": data[: len(data) // 2],
        "badmagic.gguf": b"GGUX" + data[4:],
        "badversion.gguf": data[:4] + (7).to_bytes(4, "little") + data[8:],
        "empty.gguf": b"",
        "hugecount.gguf": data[:8] + (2**40).to_bytes(8, "little") + data[16:],
    }
    for name, blob in cases.items():
        path = os.path.join(tmp, name)
        open(path, "wb").write(blob)
        r = mpirun(2, ["generate", "--model", path, "--prompt", "x", "-n", "2"], check=False, timeout=60)
        c.check(r.returncode != 0 and path in r.stderr and "EXIT AUDIT" in r.stderr,
                f"{name}: refused with a message naming the file")
        if path not in r.stderr:
            print(r.stderr[-2000:])
        r = run(["inspect", "--model", path], check=False)
        c.check(r.returncode != 0 and "invalid GGUF" in r.stderr or "cannot" in r.stderr, f"{name}: inspect refuses it")
finally:
    shutil.rmtree(tmp)
c.finish()
