# label: faults
"""The reduced fault matrix (issue 19 point 5) through `shardlm-bench faults --reduced`:
kill -9 of a worker mid-decode and of rank 0 while idle, a worker frozen (SIGSTOP) in
prefill, a worker's and rank 0's host cut off, a 2-second cut restored mid-decode, and
a slow link (n/a where the kernel has no sch_netem). Each cell: 0 hung clients, 0 of
the run's processes left on any host after stop_server.sh, an EXIT AUDIT line on every
rank not killed with -9, every rank gone within max(heartbeat, collective deadline) +
10 s, or (cut restored) the streams complete and the server answers again. The checks
read the runner's cells.json, not its verdict. The full matrix: `shardlm-bench faults`
(docs/benchmarks.md). Needs root, `ip netns` and ../shared; skipped (77) otherwise."""
import json
import os
import shutil
import subprocess
import tempfile

from testlib import BIN, SKIP, Checks, need_shared, skip

need_shared("stories260K", "stories260K.gguf")
bench = os.path.join(os.path.dirname(BIN), "shardlm-bench")
if os.geteuid() != 0:
    skip("needs root to create network namespaces")
c = Checks()
out = tempfile.mkdtemp(prefix="shardlm-faults-test-")
r = subprocess.run([bench, "faults", "--reduced", "--out", out, "--label", "t"], capture_output=True, text=True,
                   timeout=1500)
print(r.stdout[-6000:])
if r.returncode == 2:
    shutil.rmtree(out, ignore_errors=True)
    skip("the fault matrix cannot run here: " + (r.stdout + r.stderr).strip().splitlines()[-1:][0][:300])
runs = [os.path.join(out, "t", d) for d in os.listdir(os.path.join(out, "t"))]
cells = json.load(open(os.path.join(runs[0], "cells.json")))
c.check(len(cells) == 7, f"7 cells ran ({len(cells)})")
for cell in cells:
    name = f"{cell['fault']} {cell['target']} {cell['phase']}"
    if cell["status"] == "n/a":
        c.check(cell["fault"] == "slow" and "netem" in cell.get("reason", ""), f"{name}: n/a only for want of netem")
        continue
    cl = cell.get("clients", {})
    c.check(cl.get("hung", 1) == 0 and sum(cl.values()) > 0, f"{name}: clients answered, none hung ({cl})")
    c.check(cell.get("leftovers") == [], f"{name}: nothing of the run left on any host ({cell.get('leftovers')})")
    need = [r for r in ("0", "1") if not (cell["fault"] == "kill9" and r == ("0" if cell["target"] == "rank0" else "1"))]
    au = {str(k): v for k, v in cell.get("audit", {}).items()}
    c.check(all(au.get(r, "none") != "none" for r in need), f"{name}: EXIT AUDIT on ranks {need} ({au})")
    if cell["fault"] in ("cut_restore", "slow"):
        c.check(cell.get("outcome") == "recovered", f"{name}: the server answers again ({cell.get('outcome')})")
        bad = [d for d in cell.get("client_details", []) if not d.startswith("background") and "completed" not in d]
        c.check(not bad, f"{name}: the requests through the fault completed ({bad})")
    else:
        s, b, sb = cell.get("settle_s"), cell.get("bound_s"), cell.get("settle_bound_s")
        c.check(s is not None and sb is not None and s <= sb, f"{name}: every rank gone in {s} s (bound {sb} s)")
        c.check(cell.get("detect_s") is not None and cell["detect_s"] <= b, f"{name}: detected in {cell.get('detect_s')} s")
    c.check(cell.get("phase_ok", False), f"{name}: the fault landed in the phase")
c.check(r.returncode == (1 if c.failed else 0), f"the runner's exit code agrees ({r.returncode})")
if not c.failed:
    shutil.rmtree(out, ignore_errors=True)
else:
    print("results kept in", out)
c.finish()
