#!/usr/bin/env python3
"""Router benchmarks (issue 17), driven by build/shardlm-bench where a scenario fits, with
replicas and the router started by launch/launch_replicas.sh and stopped by
launch/stop_server.sh. Each case prints its figures as one JSON line (prefix "RESULT ")
with the machine's load average at the start and the end. Cases:
  batching   one replica, --max-num-seqs 1 vs 8: `shardlm-bench concurrent --levels 8
             --requests N --max-tokens 50` (default the 1.1B Q4_0 in /tmp/shardlm-bench)
  concurrent 3 replicas of stories260K: `shardlm-bench concurrent --levels C --requests N`
  spike      3 replicas: `shardlm-bench load` at 10, 100, 10 req/s back to back; router
             and replica RSS and queue depth sampled every second
  sustained  3 replicas: `shardlm-bench load` at --rate for --duration; windows compared
  kill       3 replicas: load at 20 req/s while greedy streams run; one replica SIGKILLed
             mid-load; streamed texts against the oracle; breaker opens, closes on restart
  sticky     2 replicas (1.1B Q4_0): multi-turn conversations in parallel, TTFT of turns
             2.. with session ids vs without (prefix routing off) vs prefix routing only
Usage: tools/bench-router.py CASE [--requests N] [--rate R] [--duration S] [--model M]
Binaries: SHARDLM_BIN, SHARDLM_BENCH (default build/shardlm, build/shardlm-bench)."""
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "scripts"))
from routerlib import metric, open_stream, port_block, read_events, request, rss_kb, wait_for  # noqa: E402

BIN = os.environ.get("SHARDLM_BIN", os.path.join(ROOT, "build", "shardlm"))
BENCH = os.environ.get("SHARDLM_BENCH", os.path.join(ROOT, "build", "shardlm-bench"))
STORIES = os.path.join(ROOT, "..", "shared", "models", "stories260K", "stories260K.gguf")
Q4 = "/tmp/shardlm-bench/tinyllama-1.1b-q4_0.gguf"
H = "127.0.0.1"
FLEETS = []  # stopped at exit, whatever happened


def loadavg():
    return os.getloadavg()[0]


class Fleet:
    """REPLICAS replicas behind the router (launch_replicas.sh)."""

    def __init__(self, replicas, model, serve_args=(), router_args="", threads="1"):
        self.port = port_block(replicas)
        self.run = tempfile.mkdtemp(prefix="shardlm-bench-router-")
        self.replicas = replicas
        self.env = dict(os.environ, SHARDLM_BIN=BIN, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", MODEL=model,
                        REPLICAS=str(replicas), RANKS="1", THREADS=threads, PORT=str(self.port), RUN_DIR=self.run,
                        WAIT_S="600", MPI_ARGS="--oversubscribe", STOP_TIMEOUT="60",
                        ROUTER_ARGS="--max-connections-per-client 4096 --max-connections 8192 " + router_args)
        FLEETS.append(self)
        r = subprocess.run(["bash", os.path.join(ROOT, "launch", "launch_replicas.sh"), *serve_args], env=self.env)
        if r.returncode:
            self.stop()
            raise SystemExit("launch_replicas.sh failed")
        wait_for("every backend up", lambda: self.status()["backends_up"] == replicas, 120)

    def url(self):
        return f"http://{H}:{self.port}"

    def replica_dir(self, i):
        return os.path.join(self.run, f"replica{i}")

    def replica_pid(self, i):
        return int(open(os.path.join(self.replica_dir(i), "rank0.pid")).read())

    def router_pid(self):
        return int(open(os.path.join(self.run, "router.pid")).read())

    def status(self):
        return request(H, self.port, "GET", "/admin/status")[2]

    def restart_replica(self, i):
        env = dict(self.env, RUN_DIR=self.replica_dir(i), PORT=str(self.port + 1 + i))
        subprocess.run(["bash", os.path.join(ROOT, "launch", "stop_server.sh")], env=env, capture_output=True)
        subprocess.run(["bash", os.path.join(ROOT, "launch", "launch_baseline.sh"), "--max-connections-per-client",
                        "4096", "--max-connections", "8192"], env=env, capture_output=True)

    def stop(self):
        subprocess.run(["bash", os.path.join(ROOT, "launch", "stop_server.sh")], env=self.env, capture_output=True)


def bench(url, scenario, label, *args):
    """Runs shardlm-bench; returns its summary.json."""
    out = tempfile.mkdtemp(prefix="shardlm-bench-out-")
    cmd = [BENCH, scenario, "--url", url, "--label", label, "--out", out, "--no-progress", *map(str, args)]
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd)
    for d, _, files in os.walk(out):
        if "summary.json" in files:
            return json.load(open(os.path.join(d, "summary.json")))
    raise SystemExit("shardlm-bench wrote no summary.json")


def figures(s):
    return {"requests": s["requests"], "succeeded": s["succeeded"], "success_rate": s["success_rate"],
            "e2e_p50_s": s["e2e_s"].get("p50"), "e2e_p99_s": s["e2e_s"].get("p99"), "ttft_p50_s": s["ttft_s"].get("p50"),
            "agg_tok_s": s["aggregate_throughput_tok_s"], "statuses": s["http_status_counts"]}


def result(case, **kw):
    print("RESULT " + json.dumps(dict(case=case, **kw)), flush=True)


class Sampler(threading.Thread):
    """Router and replica RSS (MiB) and the replicas' summed waiting queue, every second."""

    def __init__(self, fleet):
        super().__init__(daemon=True)
        self.fleet, self.samples, self.stopping = fleet, [], False

    def run(self):
        while not self.stopping:
            try:
                st = self.fleet.status()
                queue = sum((b.get("load") or {}).get("waiting", 0) for b in st["backends"])
                rss = [rss_kb(self.fleet.router_pid())] + [rss_kb(self.fleet.replica_pid(i))
                                                          for i in range(self.fleet.replicas)]
                self.samples.append((time.time(), [x / 1024 if x else None for x in rss], queue, st["in_flight"]))
            except (OSError, ValueError, KeyError, TypeError):
                pass
            time.sleep(1)

    def summary(self, t0=None, t1=None):
        s = [x for x in self.samples if (t0 is None or x[0] >= t0) and (t1 is None or x[0] <= t1)]
        if not s:
            return {}
        return {"router_rss_mib": [round(s[0][1][0] or 0, 1), round(max(x[1][0] or 0 for x in s), 1), round(s[-1][1][0] or 0, 1)],
                "replica_rss_mib_max": [round(max(x[1][i] or 0 for x in s), 1) for i in range(1, len(s[0][1]))],
                "replica_rss_mib_first_last": [[round(s[0][1][i] or 0, 1), round(s[-1][1][i] or 0, 1)] for i in range(1, len(s[0][1]))],
                "queue_max": max(x[2] for x in s), "router_inflight_max": max(x[3] for x in s)}


def case_batching(a):
    for seqs in (1, 8):
        f = Fleet(1, a.model or Q4, ["--max-num-seqs", str(seqs)], threads=a.threads)
        l0 = loadavg()
        s = bench(f"http://{H}:{f.port + 1}", "concurrent", f"seqs{seqs}", "--levels", 8, "--requests", a.requests or 100,
                  "--max-tokens", 50, "--prompts", "short", "--warmup", 1, "--timeout-s", 3600)
        result("batching", max_num_seqs=seqs, load_start=l0, load_end=loadavg(), **figures(s))
        f.stop()


def case_concurrent(a):
    f = Fleet(a.replicas, a.model or STORIES, a.serve_args.split())
    l0 = loadavg()
    s = bench(f.url(), "concurrent", "router", "--levels", a.concurrency, "--requests", a.requests or 2 * a.concurrency,
              "--max-tokens", 32)
    result("concurrent", replicas=a.replicas, concurrency=a.concurrency, load_start=l0, load_end=loadavg(),
           retries=metric(H, f.port, "shardlm_router_retries_total"), **figures(s))
    f.stop()


def load_phase(f, rate, duration, label):
    l0, t0 = loadavg(), time.time()
    s = bench(f.url(), "load", label, "--rate", rate, "--duration", duration, "--window-s", max(1, duration / 5),
              "--max-tokens", 32, "--concurrency", 256, "--timeout-s", 600)
    return s, dict(rate=rate, duration_s=duration, load_start=l0, load_end=loadavg(), t0=t0, t1=time.time(), **figures(s))


def case_spike(a):
    f = Fleet(a.replicas, a.model or STORIES, a.serve_args.split())
    smp = Sampler(f)
    smp.start()
    for rate in (10, 100, 10):
        _, r = load_phase(f, rate, a.duration or 30, f"spike-{rate}")
        t0, t1 = r.pop("t0"), r.pop("t1")
        result("spike", **r, **smp.summary(t0, t1))
    smp.stopping = True
    f.stop()


def case_sustained(a):
    f = Fleet(a.replicas, a.model or STORIES, a.serve_args.split())
    smp = Sampler(f)
    smp.start()
    s, r = load_phase(f, a.rate or 10, a.duration or 600, "sustained")
    tl = s["scenario_data"]["timeline"]
    first, last = tl[0], tl[-1]

    def drift(k):
        return (last[k] - first[k]) / first[k] if first[k] else None
    r.pop("t0"), r.pop("t1")
    result("sustained", **r, windows=[{k: w[k] for k in ("start_s", "requests", "succeeded", "e2e_p50_s", "generated_tok_s")}
                                      for w in tl],
           e2e_p50_drift=drift("e2e_p50_s"), tok_s_drift=drift("generated_tok_s"), **smp.summary())
    smp.stopping = True
    f.stop()


def case_kill(a):
    f = Fleet(a.replicas, a.model or STORIES, router_args="--breaker-failures 2 --breaker-cooldown-s 1 --health-interval-s 0.2")
    long_req = {"prompt": "Once upon a time", "max_tokens": 400, "temperature": 0, "ignore_eos": True}
    oracle = request(H, f.port + 1, "POST", "/v1/completions", long_req)[2]["choices"][0]["text"]
    for i in range(1, a.replicas):  # every replica holds the sequence (see test-e2e-router.py)
        request(H, f.port + 1 + i, "POST", "/v1/completions", long_req)
    out = {}
    bench_t = threading.Thread(target=lambda: out.update(s=bench(f.url(), "load", "kill", "--rate", 20, "--duration",
                                                                   a.duration or 30, "--window-s", 5, "--max-tokens", 32,
                                                                   "--concurrency", 256)))
    l0, t_start = loadavg(), time.time()
    bench_t.start()
    time.sleep(5)
    streams, texts, heads = [], [None] * 6, [None] * 6

    def one(k):
        conn, r = open_stream(H, f.port, "/v1/completions", long_req)
        heads[k] = r.getheader("X-Shardlm-Backend")
        texts[k] = (heads[k],) + read_events(r)
        conn.close()
    for k in range(6):
        streams.append(threading.Thread(target=one, args=(k,)))
        streams[-1].start()
    wait_for("every stream's head", lambda: all(heads), 120)
    victim = [f"http://{H}:{f.port + 1 + i}" for i in range(a.replicas)].index(heads[0])  # the first stream's replica
    os.kill(f.replica_pid(victim), signal.SIGKILL)
    killed_at = time.time()
    for t in streams:
        t.join(300)
    url = f"http://{H}:{f.port + 1 + victim}"
    opened = wait_for("breaker open", lambda: next(b for b in f.status()["backends"] if b["url"] == url)["breaker"]["opened"] > 0, 30)
    bench_t.join()
    t_back = time.time()
    f.restart_replica(victim)
    closed = wait_for("breaker closed", lambda: next(b for b in f.status()["backends"] if b["url"] == url)["breaker"]["state"] == "closed"
                      and next(b for b in f.status()["backends"] if b["url"] == url)["state"] == "up", 120)
    on_victim = [t for t in texts if t and t[0] == url]
    result("kill", victim=victim, load_start=l0, load_end=loadavg(), killed_after_s=round(killed_at - t_start, 1),
           streams=len(texts), streams_on_victim=len(on_victim),
           streams_identical=sum(1 for t in texts if t and t[1] == oracle and t[3] and not t[2]),
           migrations=metric(H, f.port, "shardlm_router_migrations_total"),
           retries=metric(H, f.port, "shardlm_router_retries_total"), breaker_opened=opened, breaker_closed_after_restart=closed,
           recovery_s=round(time.time() - t_back, 2), **figures(out["s"]))
    f.stop()


def conversation(port, conv, turns, session, ttfts, max_tokens):
    prompt = f"Conversation {conv}. " + "The little robot walked through the quiet town and looked at every house. " * 12
    for t in range(turns):
        prompt += f"\nUser: tell me part {t} of the story about robot {conv}.\nAssistant:"
        body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True}
        if session:
            body["session_id"] = f"conv-{conv}"
        t0 = time.time()
        first = [None]
        conn, r = open_stream(H, port, "/v1/completions", body, timeout=600)
        text, _, _ = read_events(r, lambda n: first.__setitem__(0, first[0] or time.time()))
        conn.close()
        if t > 0 and first[0]:
            ttfts.append(first[0] - t0)
        prompt += text


def case_sticky(a):
    modes = [("session ids", True, "--prefix-block-bytes 0"), ("no session ids, no prefix routing", False, "--prefix-block-bytes 0"),
             ("no session ids, prefix routing", False, "")]
    for name, session, rargs in modes:
        f = Fleet(2, a.model or Q4, router_args=rargs, threads=a.threads)
        l0, ttfts = loadavg(), []
        ts = [threading.Thread(target=conversation, args=(f.port, c, a.turns, session, ttfts, 4)) for c in range(a.conversations)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        result("sticky", mode=name, conversations=a.conversations, turns=a.turns, load_start=l0, load_end=loadavg(),
               ttft_turns_2plus_median_s=statistics.median(ttfts), ttft_mean_s=statistics.mean(ttfts), n=len(ttfts),
               session_hits=metric(H, f.port, "shardlm_router_session_hits_total"))
        f.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("case", choices=["batching", "concurrent", "spike", "sustained", "kill", "sticky"])
    p.add_argument("--requests", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=128)
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--duration", type=float, default=0)
    p.add_argument("--model", default="")
    p.add_argument("--threads", default="1")
    p.add_argument("--conversations", type=int, default=4)
    p.add_argument("--turns", type=int, default=4)
    p.add_argument("--serve-args", default="", help="extra `shardlm serve` flags for every replica of the "
                   "concurrent, spike and sustained cases, e.g. \"--max-num-seqs 48\"")
    a = p.parse_args()
    try:
        globals()["case_" + a.case](a)
    finally:
        for f in FLEETS:
            f.stop()


if __name__ == "__main__":
    main()
