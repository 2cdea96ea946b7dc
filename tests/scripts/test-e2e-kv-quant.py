# label: e2e
"""Quantized KV cache (--kv-cache-dtype fp8_e4m3 | int8) as a user runs it: greedy text
through `shardlm generate` on stories260K and TinyStories-656K equal to the F16 cache's
for the first 64 tokens with int8, a shared prefix with fp8 (1 rank, and 2 ranks = each
rank its own KV heads); the load log
and GET /admin/status of a server started with launch/launch_kv_fp8.sh show the dtype,
bytes per token (about half of F16's) and capacity; an unknown dtype is a clear error."""
import subprocess

from serverlib import Server
from testlib import BIN, Checks, mpirun, need_shared

stories = need_shared("stories260K", "stories260K.gguf")
tiny = need_shared("TinyStories-656K")
c = Checks()

# 1. generate: the first 64 tokens equal to the F16 cache's.
for model, ranks in [(stories, (1, 2)), (tiny, (1,))]:
    name = model.rstrip("/").split("/")[-1]
    for n in ranks:
        base = ["generate", "--model", model, "--prompt", "Once upon a time", "-n", "64", "--temp", "0", "--ignore-eos"]
        ref = mpirun(n, base + ["--kv-cache-dtype", "f16"])
        for dt in ("fp8_e4m3", "int8"):
            got = mpirun(n, base + ["--kv-cache-dtype", dt])
            if dt == "int8":
                c.check(got.stdout == ref.stdout and len(ref.stdout) > 100,
                        f"generate {name} np={n} {dt}: 64 greedy tokens equal to f16 KV")
            else:
                # e4m3 (3 mantissa bits) moves a near-tied greedy choice on these tiny
                # models (head sizes 8 and 16) within 64 tokens: measured, the text
                # agrees for the first 66 (TinyStories-656K) and 142 (stories260K)
                # characters; the check is a regression bound below that.
                same = next((i for i, (a, b) in enumerate(zip(got.stdout, ref.stdout)) if a != b),
                            min(len(got.stdout), len(ref.stdout)))
                c.check(same >= 48 and len(got.stdout) > 100,
                        f"generate {name} np={n} {dt}: greedy text agrees with f16 KV for {same} characters (>= 48)")
            c.check(f"{dt}," in got.stderr and "B/token" in got.stderr,
                    f"generate {name} np={n} {dt}: the load log names the dtype and bytes per token")

# 2. The server through launch_kv_fp8.sh: /admin/status shows the cache.
status = {}
for dt in ("f16", "fp8_e4m3"):
    # fp8 through its launch config (a wrapper of launch_baseline.sh), f16 the baseline.
    srv = Server(stories, ranks=2) if dt == "f16" else Server(stories, ranks=2, launcher="launch_kv_fp8.sh")
    try:
        st, _, body = srv.request("GET", "/admin/status")
        kv = body.get("kv_cache", {}) if st == 200 else {}
        status[dt] = kv
        ok, _, comp = srv.request("POST", "/v1/completions",
                                  {"prompt": "Once upon a time", "max_tokens": 32, "temperature": 0, "ignore_eos": True})
        status[dt]["text"] = comp["choices"][0]["text"] if ok == 200 else None
        status[dt]["log"] = srv.log()
    finally:
        srv.stop()
f16, fp8 = status["f16"], status["fp8_e4m3"]
c.check(f16.get("dtype") == "f16" and fp8.get("dtype") == "fp8_e4m3", f"/admin/status names the dtype ({f16.get('dtype')}, {fp8.get('dtype')})")
ratio = fp8.get("bytes_per_token", 0) / max(1, f16.get("bytes_per_token", 0))
c.check(0.5 < ratio <= 0.625, f"fp8 bytes per token (head size 8: (8 + 2) / 16 = 0.625 of f16) {fp8.get('bytes_per_token')} vs f16 {f16.get('bytes_per_token')} (ratio {ratio:.3f})")
c.check(fp8.get("capacity_tokens", 0) == fp8.get("blocks_total", -1) * fp8.get("block_size", -1) > 0
        and fp8.get("capacity_sequences", 0) >= 1, f"capacity shown ({fp8.get('capacity_tokens')} tokens, {fp8.get('capacity_sequences')} sequences)")
c.check(fp8["text"] is not None and fp8["text"][:24] == f16["text"][:24], "the fp8 server answers a greedy text that starts as f16's")
c.check("fp8_e4m3, " in fp8["log"] and "B/token" in fp8["log"], "the server's load log shows the fp8 cache and its bytes per token")

# 3. Bad input: a clear error, no run.
bad = subprocess.run([BIN, "generate", "--model", stories, "--prompt", "x", "--kv-cache-dtype", "fp4"],
                     capture_output=True, text=True, timeout=60)
c.check(bad.returncode != 0 and "kv-cache-dtype" in (bad.stderr + bad.stdout), "an unknown --kv-cache-dtype is refused with a message")
c.finish()
