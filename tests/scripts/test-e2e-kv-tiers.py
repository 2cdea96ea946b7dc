# label: e2e
"""KV tiers on 2 ranks (issue 14 points 2 and 3): greedy outputs with the disk tier
(--kv-tier cpu_disk) equal the outputs with no reuse at all (--kv-tier off), while a
small memory pool forces evictions (OFFLOAD) and later prefix hits read blocks back
(RESTORE); the same after a server restart (the index is rebuilt by scanning); a
budget smaller than one block file and an unusable directory keep serving correctly;
a sticky session keeps its conversation's blocks through other traffic, and
/admin/sessions lists and drops it."""
import os
import re
import tempfile

from serverlib import Server
from testlib import Checks, need_shared

stories = need_shared("stories260K", "stories260K.gguf")
c = Checks()
# 48 blocks of 8 tokens: the 6 prompts below (about 20 blocks each with their outputs) cannot all stay.
POOL = ["--kv-blocks", "48", "--block-size", "8", "--max-num-seqs", "2", "--ctx-size", "384"]
words = "the cat sat on a mat and a dog ran to the park where the kids played ball all day long".split()
prompts = [" ".join(words[(i * 3 + j) % len(words)] for j in range(60)) + f" story {i}" for i in range(6)]


def complete(srv, p, n=24, **kw):
    st, _, b = srv.request("POST", "/v1/completions", dict({"prompt": p, "max_tokens": n, "temperature": 0, "ignore_eos": True}, **kw))
    return (b["choices"][0]["text"], b["usage"]) if st == 200 else (f"HTTP {st}: {b}", {})


def metric(srv, name):
    _, _, text = srv.request("GET", "/metrics")
    m = re.search(r"^" + re.escape(name) + r"(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else -1.0


def kv(srv):
    return srv.request("GET", "/admin/kv")[2]


def rounds(srv, n_rounds=2):
    return [[complete(srv, p)[0] for p in prompts] for _ in range(n_rounds)]


# 1. The oracle: no reuse across requests.
ref_srv = Server(stories, 2, ["--kv-tier", "off", *POOL])
try:
    ref = [complete(ref_srv, p)[0] for p in prompts]
    c.check(kv(ref_srv)["tier"] == "off" and kv(ref_srv)["disk"] is None, "/admin/kv names tier off with no disk section")
finally:
    ref_srv.stop()
c.check(all(not t.startswith("HTTP") and len(t) > 10 for t in ref), "reference outputs (tier off)")

disk_dir = tempfile.mkdtemp(prefix="shardlm-kvdisk-e2e-")
DISK = ["--kv-tier", "cpu_disk", "--kv-disk-dir", disk_dir, "--kv-disk-min-tokens", "16", *POOL]

# 2. cpu_disk: evictions go to disk, the second round reads them back; outputs unchanged.
srv = Server(stories, 2, DISK)
try:
    got = rounds(srv)
    k = kv(srv)
    c.check(got[0] == ref, "disk tier, first round: outputs equal tier off")
    c.check(got[1] == ref, "disk tier, second round (restored prefixes): outputs equal tier off")
    c.check(k["scheduler"]["offload_ops"] > 0 and k["disk"]["blocks"] > 0, f"evicted blocks were offloaded: {k['disk']}")
    c.check(k["scheduler"]["restored_blocks"] > 0, f"blocks were restored from disk: {k['scheduler']}")
    c.check(k["scheduler"]["restore_failed_blocks"] == 0, "no restore failed")
    c.check(metric(srv, "shardlm_kv_restored_blocks_total") == k["scheduler"]["restored_blocks"],
            "/metrics counts the restored blocks")
    c.check(metric(srv, "shardlm_kv_offloaded_bytes_total") > 0 and metric(srv, "shardlm_kv_disk_hits_total") > 0,
            "/metrics counts offloaded bytes and disk hits")
    st, _, status = srv.request("GET", "/admin/status")
    c.check(st == 200 and status["kv_tiers"]["tier"] == "cpu_disk", "/admin/status has the tier section")
finally:
    srv.stop()
rank_dirs = sorted(os.listdir(disk_dir))
c.check(len(rank_dirs) == 2 and all("-tp2-" in d for d in rank_dirs) and {d.split("-r")[1][0] for d in rank_dirs} == {"0", "1"},
        f"one layout directory per rank: {rank_dirs}")

# 3. Restart: the index is rebuilt by scanning; the first requests restore (rehydrate).
# A foreign file and a truncated one are found, counted and deleted.
r0 = os.path.join(disk_dir, [d for d in rank_dirs if "-r0-" in d][0])
files = sorted(f for f in os.listdir(r0) if f.endswith(".kvb"))
with open(os.path.join(r0, files[0]), "r+b") as f:
    f.truncate(100)
with open(os.path.join(r0, "0123456789abcdef.kvb"), "wb") as f:
    f.write(b"not a block file")
srv = Server(stories, 2, DISK)
try:
    k0 = kv(srv)
    c.check(k0["disk"]["scanned_files"] > 0 and k0["disk"]["index_blocks"] > 0, f"restart: the scan found the blocks: {k0['disk']}")
    c.check(k0["disk"]["bad_files"] == 2, f"restart: 2 bad files counted: {k0['disk']['bad_files']}")
    c.check(not os.path.exists(os.path.join(r0, "0123456789abcdef.kvb")), "restart: the foreign file was deleted")
    got = [complete(srv, p)[0] for p in reversed(prompts)][::-1]
    k = kv(srv)
    c.check(got == ref, "after a restart: outputs equal tier off")
    c.check(k["scheduler"]["restored_blocks"] > 0, f"after a restart: prefixes were restored from disk: {k['scheduler']}")
finally:
    srv.stop()

# 4. A budget smaller than one block file, and a directory that cannot be made: still correct.
for name, extra in [("tiny --kv-disk-gb", ["--kv-disk-gb", "0.000001"]),
                    ("unusable --kv-disk-dir", [])]:
    bad_dir = tempfile.mkdtemp(prefix="shardlm-kvdisk-bad-")
    d = bad_dir
    if not extra:
        d = os.path.join(bad_dir, "a-file")
        open(d, "w").write("x")  # a regular file where the directory should be
    srv = Server(stories, 2, ["--kv-tier", "cpu_disk", "--kv-disk-dir", d, "--kv-disk-min-tokens", "16", *POOL, *extra])
    try:
        got = rounds(srv)
        k = kv(srv)
        health = srv.request("GET", "/health")[0]
        c.check(got[0] == ref and got[1] == ref and health == 200, f"{name}: outputs equal tier off, server healthy")
        c.check(k["disk"]["blocks"] == 0, f"{name}: nothing kept on disk ({k['disk']})")
        if extra:
            c.check(k["disk"]["write_drops"] > 0 and metric(srv, "shardlm_kv_disk_write_drops_total") > 0,
                    f"{name}: the drops are counted")
        else:
            c.check(not k["disk"]["usable"], f"{name}: the directory is reported unusable")
    finally:
        srv.stop()

# 5. Sticky sessions: a session's blocks survive other traffic that evicts everything else.
srv = Server(stories, 2, ["--kv-tier", "cpu", *POOL])
try:
    turn1 = prompts[0]
    out1, _ = complete(srv, turn1, session_id="conv-1")
    sess = srv.request("GET", "/admin/sessions")[2]["data"]
    c.check(len(sess) == 1 and sess[0]["id"] == "conv-1" and sess[0]["tokens"] >= 48 and sess[0]["bytes"] > 0,
            f"/admin/sessions lists the session with its pinned tokens: {sess}")
    for p in prompts[1:]:  # other traffic: more than the pool holds
        complete(srv, p)
    turn2 = turn1 + out1 + " and then"
    _, usage = complete(srv, turn2, session_id="conv-1")
    cached = usage.get("prompt_tokens_details", {}).get("cached_tokens", 0)
    c.check(cached >= 48, f"turn 2 of the session reused the pinned blocks: {cached} cached tokens")
    # The same conversation without a session id after the same traffic: evicted.
    complete(srv, prompts[2])
    for p in prompts[3:]:
        complete(srv, p)
    _, usage2 = complete(srv, prompts[1] + " and then")
    c.check(usage2.get("prompt_tokens_details", {}).get("cached_tokens", 0) < cached,
            "without a session the conversation's blocks were evicted by the traffic")
    c.check(metric(srv, "shardlm_session_hits_total") >= 1 and metric(srv, "shardlm_session_pinned_bytes") > 0,
            "/metrics: session hits and pinned bytes")
    # The X-Session-ID header works as the body field does.
    st, _, _ = srv.request("POST", "/v1/completions", {"prompt": prompts[4], "max_tokens": 4, "temperature": 0},
                           headers={"X-Session-ID": "conv-2"})
    ids = sorted(s["id"] for s in srv.request("GET", "/admin/sessions")[2]["data"])
    c.check(st == 200 and ids == ["conv-1", "conv-2"], f"X-Session-ID makes a session: {ids}")
    st, _, _ = srv.request("DELETE", "/admin/sessions/conv-1")
    st2, _, _ = srv.request("DELETE", "/admin/sessions/conv-1")
    ids = [s["id"] for s in srv.request("GET", "/admin/sessions")[2]["data"]]
    c.check(st == 200 and st2 == 404 and ids == ["conv-2"], f"DELETE /admin/sessions/ID drops it once: {st} {st2} {ids}")
finally:
    srv.stop()

c.finish()
