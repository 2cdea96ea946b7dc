# label: e2e
"""shardlm-bench against a real 2-rank server (stories260K): every scenario for a few
requests with its result files validated (the five metrics present and > 0,
p50 <= p95 <= p99, success 100%), a non-streamed run marked invalid, the KV-tier
scenarios on small pools (bench_tiers.py: sessions, eviction-replay, rehydrate-replay
with a real restart, local-copilot-burst, on cpu and cpu_disk), stress on a small queue (429s during the spike, success
before and after, same rank-0 process), report over two labels, and soak with two
load/unload cycles."""
import glob
import json
import os
import shutil
import subprocess
import tempfile

from bench_tiers import tier_scenarios
from serverlib import Server, free_port, processes_of
from testlib import BIN, Checks, need_shared

gguf = need_shared("stories260K", "stories260K.gguf")
BENCH = os.path.join(os.path.dirname(BIN), "shardlm-bench")
if not os.access(BENCH, os.X_OK):
    raise SystemExit(f"FAIL: {BENCH} not built (cmake --build ... --target shardlm-bench)")
FIVE = ["prefill_time_s", "prefill_tok_s", "decode_time_s", "decode_tok_s", "throughput_tok_s"]
EXIT_NEEDS_FEATURE = 4
c = Checks()
out = tempfile.mkdtemp(prefix="shardlm-bench-e2e-")


def bench(*args, timeout=240):
    cmd = [BENCH, *args] + ([] if args[0] == "report" else ["--no-progress"])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode not in (0, 1, EXIT_NEEDS_FEATURE):
        print("stdout:", r.stdout[-3000:])
        print("stderr:", r.stderr[-3000:])
    return r


def latest_run(label, scenario):
    runs = sorted(glob.glob(os.path.join(out, label, scenario + "-*")), key=os.path.getmtime)
    return runs[-1] if runs else None


def ordered(s):
    return s.get("n", 0) == 0 or s["p50"] <= s["p95"] <= s["p99"]


def validate(label, scenario, expect_success=True):
    """Checks the result directory of the latest run; returns its summary."""
    d = latest_run(label, scenario)
    if not d:
        c.check(False, f"{scenario}: a result directory")
        return None
    names = ["config.json", "requests.jsonl", "summary.json", "metrics_before.txt", "metrics_after.txt", "metrics_delta.json"]
    missing = [n for n in names if not os.path.exists(os.path.join(d, n))]
    c.check(not missing, f"{scenario}: every result file written {missing or ''}")
    s = json.load(open(os.path.join(d, "summary.json")))
    cfg = json.load(open(os.path.join(d, "config.json")))
    lines = [json.loads(x) for x in open(os.path.join(d, "requests.jsonl"))]
    delta = json.load(open(os.path.join(d, "metrics_delta.json")))
    c.check(cfg["server"]["status"].get("status") == "ready" and cfg["git_commit"] and cfg["host"]["hostname"]
            and cfg["options"]["label"] == label, f"{scenario}: config.json has the status snapshot, commit and host")
    c.check(len(lines) == s["requests"] and all(len(x["identity"]) == 16 for x in lines),
            f"{scenario}: one requests.jsonl line per request ({len(lines)}), each with an identity hash")
    sent = delta["counters"].get('shardlm_requests_total{endpoint="completions"}', 0)
    c.check(sent >= s["requests"], f"{scenario}: /metrics delta counts the requests ({sent} >= {s['requests']})")
    if expect_success:
        metrics_ok = all(s["metrics"][m]["n"] > 0 and s["metrics"][m]["mean"] > 0 and s["metrics"][m]["min"] > 0
                         and ordered(s["metrics"][m]) for m in FIVE)
        c.check(metrics_ok, f"{scenario}: the five metrics present, > 0 and ordered "
                            f"{ {m: round(s['metrics'][m].get('mean', 0), 4) for m in FIVE} }")
        c.check(ordered(s["ttft_s"]) and ordered(s["itl_s"]) and s["ttft_s"]["n"] > 0,
                f"{scenario}: TTFT/ITL p50 <= p95 <= p99 ({s['ttft_s'].get('p50')}, {s['ttft_s'].get('p95')}, {s['ttft_s'].get('p99')})")
        c.check(s["success_rate"] == 1.0 and s["valid_requests"] == s["requests"] and s["valid"],
                f"{scenario}: success 100% and every record valid ({s['succeeded']}/{s['requests']}, valid {s['valid_requests']})")
        c.check(all(x["valid"] and all(x[m] > 0 for m in FIVE) for x in lines), f"{scenario}: every record has the five metrics")
    return s


def bench_env(env, *args, timeout=300):
    """shardlm-bench with an environment (the restart command inherits it)."""
    return subprocess.run([BENCH, *args, "--no-progress"], capture_output=True, text=True, timeout=timeout, env=env)


# 96 tokens: the stream must last long enough that the first and last token are not
# read at once (the ranks busy-poll the machine's cores, so the client may be late).
common = ["--label", "baseline", "--out", out, "--max-tokens", "96", "--warmup", "1"]

# --- every scenario against one 2-rank server ---
srv = Server(gguf, args=["--max-num-seqs", "8"])
url = f"http://127.0.0.1:{srv.port}"
try:
    runs = [("single", ["--requests", "3"]),
            ("batch", ["--batch-sizes", "1,2", "--requests", "1"]),
            ("concurrent", ["--levels", "1,3", "--requests", "3"]),
            ("cache", ["--requests", "2"]),
            ("memory", ["--requests", "2"]),
            ("load", ["--rate", "8", "--duration", "2", "--window-s", "1"])]
    for name, extra in runs:
        r = bench(name, "--url", url, *common, *extra)
        c.check(r.returncode == 0, f"{name}: exit code 0 ({r.returncode}) {r.stderr[-600:] if r.returncode else ''}")
        s = validate("baseline", name)
        if name == "batch" and s:
            c.check(list(s["cases"]) == ["k=1", "k=2"] and s["cases"]["k=2"]["requests"] == 2
                    and s["cases"]["k=2"]["tokens"]["prompt"] >= 2 * 400,
                    f"batch: cases k=1,k=2 with long prompts ({s['cases'].get('k=2', {}).get('tokens')})")
        if name == "cache" and s:
            cd = s["scenario_data"]["cache"]
            c.check(cd["cold"]["cached_tokens"] == 0 and cd["identical"]["cached_fraction"] > 0.5
                    and cd["shared-prefix"]["cached_fraction"] > 0.3,
                    f"cache: cold takes nothing from the cache, identical and shared-prefix do "
                    f"({cd['cold']['cached_fraction']:.2f}, {cd['identical']['cached_fraction']:.2f}, {cd['shared-prefix']['cached_fraction']:.2f})")
        if name == "memory" and s:
            mem = s["scenario_data"]["memory"]
            c.check(len(mem["after_unload"]) == 2 and all(m["growth_vs_unloaded"] <= 0.03 for m in mem["after_unload"]),
                    f"memory: both ranks back within 3% after unload ({[m['growth_vs_unloaded'] for m in mem['after_unload']]})")
        if name == "load" and s:
            tl = s["scenario_data"]["timeline"]
            c.check(len(tl) == 2 and sum(w["requests"] for w in tl) == s["requests"], f"load: a timeline of 2 windows ({len(tl)})")
    st, _, h = srv.request("GET", "/health")
    c.check(st == 200 and h["model_loaded"], "the server is loaded again after the memory scenario")

    # A second phase for the report (other seed), and a non-streamed run.
    r = bench("single", "--url", url, "--label", "variant", "--out", out, "--max-tokens", "96", "--requests", "3", "--seed", "7")
    c.check(r.returncode == 0, f"single (variant): exit code 0 ({r.returncode})")
    r = bench("single", "--url", url, "--label", "nostream", "--out", out, "--max-tokens", "16", "--requests", "2", "--no-stream")
    s = json.load(open(os.path.join(latest_run("nostream", "single"), "summary.json")))
    lines = [json.loads(x) for x in open(os.path.join(latest_run("nostream", "single"), "requests.jsonl"))]
    c.check(r.returncode == 1 and s["succeeded"] == 2 and s["valid_requests"] == 0 and not s["valid"]
            and all(not x["valid"] and "not streamed" in x["invalid_reason"] and x["prefill_time_s"] is None for x in lines),
            f"--no-stream: results marked invalid (no TTFT), exit 1 ({r.returncode})")
    r = bench("ngram", "--url", url, "--label", "ngram", "--out", out, "--max-tokens", "24", "--requests", "2")
    d = json.load(open(os.path.join(latest_run("ngram", "ngram"), "summary.json"))).get("scenario_data", {}).get("ngram", {})
    c.check(r.returncode == 0 and set(d) == {"repetitive", "edit", "random"}
            and all(v["requests"] == 2 and v["decode_tok_s_mean"] > 0 and v["spec_mode"] == "off" and v["drafts"] == 0
                    for v in d.values()),
            f"ngram: three cases with decode tok/s and the (off) speculation counters ({r.returncode}, {d})")
    r = bench("reuse-verify", "--url", url, "--out", out, "--max-tokens", "16", "--requests", "2")
    d = json.load(open(os.path.join(latest_run("run", "reuse-verify"), "summary.json"))).get("scenario_data", {}).get("reuse-verify", {})
    c.check(r.returncode == 0 and d.get("texts") == 12 and d.get("texts_equal") == 12 and d.get("response_cache") is False,
            f"reuse-verify without a response cache: identical texts, exit {r.returncode} ({d})")
    r = bench("rehydrate-replay", "--url", url, "--out", out)
    c.check(r.returncode == 2 and "--restart-cmd" in r.stderr, f"rehydrate-replay without --restart-cmd: exit 2 and says why ({r.returncode})")
    r = bench("single", "--url", "http://127.0.0.1:1", "--out", out, "--requests", "1")
    c.check(r.returncode == 2 and "unreachable" in r.stderr, f"an unreachable server: exit 2 ({r.returncode})")
finally:
    srv.stop()

tier_scenarios(out, gguf, bench_env, latest_run, validate, c)

# --- report over two labels ---
report = os.path.join(out, "comparison_report.md")
r = bench("report", "--results", out, "--output", report)
md = open(report).read() if os.path.exists(report) else ""
c.check(r.returncode == 0 and "## Phases" in md and "| baseline |" in md and "| variant |" in md, "report: the phase table")
delta_rows = [ln for ln in md.splitlines() if ln.startswith("| variant |") and "%" in ln]
c.check("## Delta vs baseline (`baseline`)" in md and "Δ prefill_time_s" in md and delta_rows,
        f"report: the delta column ({delta_rows[:1]})")
c.check("### concurrent" in md and "### cache" in md and "### stress" not in md, "report: per-benchmark detail")
tier_rows = [ln for ln in md.splitlines() if ln.startswith("| replay |") or ln.startswith("| with-session |")]
c.check("## KV-tier phases" in md and "(rehydrate-replay)" in md and "(local-copilot-burst)" in md and len(tier_rows) >= 4,
        f"report: the KV-tier phases of the tier scenarios ({tier_rows[:2]})")
if shutil.which("gnuplot"):
    pngs = glob.glob(os.path.join(out, "charts", "*.png"))
    c.check(len(pngs) == 3 and "![" in md, f"report: gnuplot charts ({[os.path.basename(p) for p in pngs]})")
else:
    c.check("Charts skipped" in md, "report: charts skipped without gnuplot, and it says so")

# --- stress: a small queue overflows, the server recovers, no restart ---
srv = Server(gguf, args=["--max-queue", "2", "--max-num-seqs", "1"])
try:
    pid0 = open(os.path.join(srv.run_dir, "rank0.pid")).read().strip()
    procs0 = sorted(processes_of(srv.run_dir))
    r = bench("stress", "--url", f"http://127.0.0.1:{srv.port}", "--label", "baseline", "--out", out,
              "--max-tokens", "128", "--requests", "3", "--spike", "12")
    s = json.load(open(os.path.join(latest_run("baseline", "stress"), "summary.json")))
    cases = s["cases"]
    failed = [ch["name"] + ": " + ch["detail"] for ch in s["checks"] if not ch["ok"]]
    c.check(r.returncode == 0 and not failed, f"stress: every check passed ({failed})")
    c.check(cases["spike"]["http_status_counts"].get("429", 0) > 0, f"stress: 429s during the spike ({cases['spike']['http_status_counts']})")
    c.check(cases["before"]["success_rate"] == 1.0 and cases["after"]["success_rate"] == 1.0, "stress: 100% before and after")
    c.check(open(os.path.join(srv.run_dir, "rank0.pid")).read().strip() == pid0 and sorted(processes_of(srv.run_dir)) == procs0,
            f"stress: no process restarted (rank 0 pid {pid0})")
finally:
    srv.stop()

# --- soak: launch, 2 load/unload cycles, stop, EXIT AUDIT, nothing left ---
env = dict(os.environ, MPI_ARGS="--oversubscribe", SHARDLM_BIN=BIN)
r = subprocess.run([BENCH, "soak", "--model", gguf, "--ranks", "2", "--port", str(free_port()), "--cycles", "2",
                    "--scenarios", "single", "--requests", "2", "--floor-mib", "0.5", "--max-tokens", "32", "--label", "soak", "--out", out,
                    "--no-progress"], capture_output=True, text=True, timeout=300, env=env)
soak_dir = latest_run("soak", "soak")
s = json.load(open(os.path.join(soak_dir, "summary.json"))) if soak_dir else {}
failed = [ch["name"] + ": " + ch["detail"] for ch in s.get("checks", []) if not ch["ok"]]
if r.returncode != 0:
    print(r.stderr[-3000:])
c.check(r.returncode == 0 and s.get("valid") and not failed, f"soak: exit 0 and every check passed ({r.returncode}, {failed})")
c.check(len(s.get("cycles", [])) == 2 and all(len(cy["anon_growth"]) == 2 for cy in s.get("cycles", [])),
        f"soak: 2 cycles with per-rank memory ({[cy.get('anon_growth') for cy in s.get('cycles', [])]})")
causes = sorted((a["rank"], a["cause"]) for a in s.get("exit_audits", []))
c.check(causes == [(0, "server_shutdown"), (1, "worker_loop_exit")], f"soak: EXIT AUDIT causes {causes}")
c.check(not processes_of(s.get("run_dir", "/nonexistent")), "soak: no server process left")
c.check(len(glob.glob(os.path.join(out, "soak", "single-*"))) == 3, "soak: the scenario ran in the warm-up and in each cycle")

if c.failed == 0:
    shutil.rmtree(out, ignore_errors=True)
else:
    print(f"results kept in {out}")
c.finish()
