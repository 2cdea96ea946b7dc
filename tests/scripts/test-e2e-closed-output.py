# label: e2e
"""A rank whose stdout and stderr lead nowhere still writes its EXIT AUDIT (issue 19
point 7): under mpirun both are pipes to mpirun or its daemon, and once that reader is
gone (kill -9 of mpirun, a daemon lost with its host) every log line fails with EPIPE.
Before, the first such line raised SIGPIPE and ended the process silently, with no
EXIT AUDIT. Here `generate` runs with both outputs on a pipe whose read end is closed
before it starts: the process must not die of SIGPIPE, and its log file must hold the
EXIT AUDIT line."""
import os
import signal
import subprocess
import tempfile

from testlib import BIN, RUN_DIRS, Checks, need_shared

gguf = need_shared("stories260K", "stories260K.gguf")
c = Checks()
d = tempfile.mkdtemp(prefix="shardlm-closed-output-")
RUN_DIRS.append(d)
log = os.path.join(d, "rank{rank}.log")
r, w = os.pipe()
os.close(r)  # nobody reads: every write to w fails with EPIPE (and raises SIGPIPE)
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
p = subprocess.Popen([BIN, "--log-level", "info", "--log-file", log, "generate", "--model", gguf, "--prompt",
                      "Once upon a time", "-n", "100", "--temp", "0", "--no-echo"],
                     stdin=subprocess.DEVNULL, stdout=w, stderr=w, env=env)
os.close(w)
try:
    rc = p.wait(timeout=120)
except subprocess.TimeoutExpired:
    p.kill()
    rc = p.wait()
c.check(rc != -signal.SIGPIPE, f"the process did not die of SIGPIPE (exit status {rc})")
text = open(os.path.join(d, "rank0.log"), errors="replace").read() if os.path.exists(os.path.join(d, "rank0.log")) else ""
audit = [ln for ln in text.splitlines() if "EXIT AUDIT: rank=0" in ln]
c.check(len(audit) == 1, f"its log file holds one EXIT AUDIT line ({audit[-1:] or text[-300:]!r})")
c.finish()
