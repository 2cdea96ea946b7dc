"""The KV-tier scenarios of shardlm-bench (issue 14 §5) against real 2-rank servers with
small KV pools, for test-e2e-bench: sessions, eviction-replay and local-copilot-burst on
--kv-tier cpu; eviction-replay and rehydrate-replay (the scenario restarts the server
through the launch scripts) on --kv-tier cpu_disk. Asserts the report's fields and
that their values are sane (phases present with TTFT, tier deltas non-negative, disk
restores and writes under cpu_disk, session hits, per-rank /proc io); no timings."""
import json
import os
import shlex
import tempfile

from serverlib import Server
from testlib import SOURCE

# 128 blocks of 8 tokens (1,024): a pinned conversation and one other prompt fit, the
# other traffic between two turns does not.
POOL = ["--kv-blocks", "128", "--block-size", "8", "--max-num-seqs", "4", "--ctx-size", "1024"]
SMALL = ["--max-tokens", "16", "--warmup", "1", "--label", "tiers"]


def fs_type(path):
    """File system type of the mount holding path (longest mount point prefix)."""
    best, kind = "", "?"
    for line in open("/proc/mounts"):
        parts = line.split()
        if len(parts) > 2 and path.startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind


def summary(latest_run, scenario):
    d = latest_run("tiers", scenario)
    return json.load(open(os.path.join(d, "summary.json"))) if d else {}


def check_phases(c, scenario, s, names):
    phases = s.get("phases", [])
    got = [p["name"] for p in phases]
    c.check(got == names, f"{scenario}: phases {names} ({got})")
    neg = [(p["name"], k, v) for p in phases for k, v in p["metrics"].items() if isinstance(v, (int, float)) and v < 0]
    c.check(phases and not neg and all("error" not in p["metrics"] for p in phases),
            f"{scenario}: every tier counter delta present and >= 0 ({neg})")
    io_ok = all(len(p["disk_io"]) == 2 and p["disk_io_total"]["ranks_read"] == 2
                and all(x.get("read_bytes", -1) >= 0 and x.get("write_bytes", -1) >= 0 and x.get("pid", 0) > 0 for x in p["disk_io"])
                for p in phases)
    c.check(io_ok, f"{scenario}: /proc io of both rank processes in every phase "
                   f"({[p['disk_io'] for p in phases][:1]})")
    timed = [p for p in phases if p["requests"] > 0]
    c.check(timed and all(p["ttft_s"]["n"] == p["succeeded"] == p["requests"] and p["ttft_s"]["p50"] > 0 for p in timed),
            f"{scenario}: a TTFT for every request of a phase with requests")
    return {p["name"]: p for p in phases}


def tier_scenarios(out, gguf, bench_env, latest_run, validate, c):
    # --- cpu: sessions, eviction-replay (recompute), local-copilot-burst ---
    srv = Server(gguf, args=["--kv-tier", "cpu", *POOL])
    url = f"http://127.0.0.1:{srv.port}"
    try:
        st = srv.request("GET", "/admin/status")[2]
        c.check([r.get("pid", 0) > 0 for r in st["ranks"]] == [True, True], f"/admin/status lists the rank pids ({st['ranks']})")
        r = bench_env(srv.env, "sessions", "--url", url, "--out", out, *SMALL, "--turns", "3", "--turn-tokens", "40")
        c.check(r.returncode == 0, f"sessions: exit 0 ({r.returncode}) {r.stderr[-1500:] if r.returncode else ''}")
        validate("tiers", "sessions")
        s = summary(latest_run, "sessions")
        ph = check_phases(c, "sessions", s, ["without-session", "with-session"])
        d = s.get("scenario_data", {}).get("sessions", {})
        w, wo = d.get("with-session", {}), d.get("without-session", {})
        c.check(w.get("turns_measured") == 2 and wo.get("turns_measured") == 2 and w["median_turn_s"] > 0 and wo["median_turn_s"] > 0
                and "reduction" in d, f"sessions: median turn latency per case and the reduction ({d.get('reduction')})")
        c.check(w.get("eviction_gate_met") and wo.get("eviction_gate_met") and wo["other_traffic"]["prompt_tokens"] >= 2 * d["evict_tokens_per_turn"],
                f"sessions: the other traffic sent the eviction budget before each turn ({wo.get('other_traffic')})")
        c.check(w.get("cached_fraction", 0) > 0.5 and wo.get("cached_fraction", 1) < w.get("cached_fraction", 0) - 0.3,
                f"sessions: the session kept its blocks through the traffic, the plain conversation lost them "
                f"({w.get('cached_fraction')} vs {wo.get('cached_fraction')})")
        c.check(ph.get("with-session", {}).get("metrics", {}).get("session_hits", 0) >= 2
                and ph.get("without-session", {}).get("metrics", {}).get("session_hits", 1) == 0,
                "sessions: session hits counted in the with-session phase only")
        c.check(srv.request("GET", "/admin/sessions")[2]["data"] == [], "sessions: the scenario deleted its sessions")

        r = bench_env(srv.env, "eviction-replay", "--url", url, "--out", out, *SMALL, "--requests", "2", "--prompt-tokens", "200")
        c.check(r.returncode == 0, f"eviction-replay (cpu): exit 0 ({r.returncode}) {r.stderr[-1500:] if r.returncode else ''}")
        validate("tiers", "eviction-replay")
        s = summary(latest_run, "eviction-replay")
        ph = check_phases(c, "eviction-replay (cpu)", s, ["populate", "thrash", "replay"])
        d = s.get("scenario_data", {}).get("eviction-replay", {})
        c.check(d.get("kv_tier") == "cpu" and d.get("replay_restored_blocks") == 0 and d.get("replay_recomputed_tokens", 0) > 300
                and d.get("replay_ttft_median_s", 0) > 0 and d.get("populate_ttft_median_s", 0) > 0,
                f"eviction-replay (cpu): the evicted prompts were recomputed, TTFT of both phases ({d})")
        c.check(ph.get("thrash", {}).get("traffic", {}).get("prompt_tokens", 0) >= d.get("evict_tokens", 1) > 1024,
                f"eviction-replay (cpu): the thrash sent more than the pool holds ({ph.get('thrash', {}).get('traffic')})")

        r = bench_env(srv.env, "local-copilot-burst", "--url", url, "--out", out, *SMALL, "--requests", "3", "--concurrency", "3",
                      "--prompt-tokens", "200")
        c.check(r.returncode == 0, f"local-copilot-burst: exit 0 ({r.returncode}) {r.stderr[-1500:] if r.returncode else ''}")
        validate("tiers", "local-copilot-burst")
        s = summary(latest_run, "local-copilot-burst")
        check_phases(c, "local-copilot-burst", s, ["open", "bursts"])
        d = s.get("scenario_data", {}).get("local-copilot-burst", {})
        t, lat = d.get("ttft_s", {}), d.get("latency_s", {})
        c.check(t.get("n") == 9 and t["p50"] <= t["p95"] <= t["p99"] and lat.get("n") == 9 and lat["p50"] <= lat["p95"],
                f"local-copilot-burst: TTFT and latency percentiles over 3 x 3 requests ({t}, {lat})")
        c.check(d.get("prefix_prompt_tokens", 0) > 150 and d.get("cached_fraction_median", 0) > 0.6
                and 0.5 < d.get("prefix_hit_fraction", 0) <= 1.0,
                f"local-copilot-burst: the file prefix came from the prefix cache ({d.get('cached_fraction_median')}, "
                f"{d.get('prefix_hit_fraction')})")
    finally:
        srv.stop()

    # --- cpu_disk: eviction-replay (disk restores), rehydrate-replay (a real restart) ---
    disk_dir = tempfile.mkdtemp(prefix="shardlm-bench-kvdisk-")
    args = ["--kv-tier", "cpu_disk", "--kv-disk-dir", disk_dir, "--kv-disk-min-tokens", "16", *POOL]
    srv = Server(gguf, args=args)
    url = f"http://127.0.0.1:{srv.port}"
    on_tmpfs = fs_type(disk_dir) == "tmpfs"
    try:
        r = bench_env(srv.env, "eviction-replay", "--url", url, "--out", out, *SMALL, "--requests", "2", "--prompt-tokens", "200")
        c.check(r.returncode == 0, f"eviction-replay (cpu_disk): exit 0 ({r.returncode}) {r.stderr[-1500:] if r.returncode else ''}")
        validate("tiers", "eviction-replay")
        s = summary(latest_run, "eviction-replay")
        ph = check_phases(c, "eviction-replay (cpu_disk)", s, ["populate", "thrash", "replay"])
        d = s.get("scenario_data", {}).get("eviction-replay", {})
        c.check(d.get("kv_tier") == "cpu_disk" and d.get("replay_restored_blocks", 0) > 0 and d.get("replay_disk_hits", 0) > 0
                and d.get("replay_cached_fraction", 0) > 0.3,
                f"eviction-replay (cpu_disk): the replay read blocks back from disk ({d})")
        wchar = sum(p["disk_io_total"]["wchar"] for p in ph.values())
        wbytes = sum(p["disk_io_total"]["write_bytes"] for p in ph.values())
        c.check(d.get("offloaded_bytes", 0) > 0 and wchar >= d.get("offloaded_bytes", 0) and (on_tmpfs or wbytes > 0),
                f"eviction-replay (cpu_disk): the ranks wrote the block files (offloaded {d.get('offloaded_bytes')}, "
                f"wchar {wchar}, write_bytes {wbytes}{', tmpfs' if on_tmpfs else ''})")

        launch = os.path.join(SOURCE, "launch")
        restart = (f"bash {shlex.quote(launch + '/stop_server.sh')} && "
                   f"bash {shlex.quote(launch + '/launch_baseline.sh')} {' '.join(shlex.quote(a) for a in args)}")
        pids = [x["pid"] for x in srv.request("GET", "/admin/status")[2]["ranks"]]
        r = bench_env(srv.env, "rehydrate-replay", "--url", url, "--out", out, *SMALL, "--requests", "2", "--prompt-tokens", "200",
                      "--seed", "9", "--restart-cmd", restart, "--restart-timeout-s", "120")
        c.check(r.returncode == 0, f"rehydrate-replay: exit 0 ({r.returncode}) {r.stderr[-2000:] if r.returncode else ''}")
        s = summary(latest_run, "rehydrate-replay")
        ph = check_phases(c, "rehydrate-replay", s, ["populate", "thrash", "replay"])
        d = s.get("scenario_data", {}).get("rehydrate-replay", {})
        new_pids = [x["pid"] for x in srv.request("GET", "/admin/status")[2]["ranks"]]
        c.check(new_pids != pids and len(s.get("scenario_data", {}).get("restarts", [])) == 1
                and os.path.exists(os.path.join(latest_run("tiers", "rehydrate-replay"), "restart.log")),
                f"rehydrate-replay: the scenario restarted the server ({pids} -> {new_pids})")
        c.check(d.get("replay_restored_blocks", 0) > 0 and d.get("replay_ttft_median_s", 0) > 0
                and d.get("disk_index_blocks_after_restart", 0) > 0 and s.get("valid"),
                f"rehydrate-replay: after the restart the replay restored blocks from the rebuilt index ({d})")
        c.check(ph.get("replay", {}).get("disk_io", [{}])[0].get("pid") in new_pids,
                "rehydrate-replay: the replay's io was read from the new rank processes")
    finally:
        srv.stop()
