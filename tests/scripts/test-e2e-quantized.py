# label: e2e
"""Quantized weights end to end: the trained stories260K (F32 GGUF) re-encoded at load
(--weight-dtype) keeps its greedy story: Q8_0 for at least the first 32 generated tokens
(on 1 and 2 ranks), and the default F16 KV cache does not change it either."""
from testlib import Checks, mpirun, need_shared

gguf = need_shared("stories260K", "stories260K.gguf")
c = Checks()
args = ["generate", "--model", gguf, "--prompt", "Once upon a time", "-n", "32", "--temp", "0", "--no-echo"]
expected = open(need_shared("stories260K", "expected-greedy-once-upon-a-time.txt")).read()[len("Once upon a time"):]
ref = mpirun(1, args + ["--kv-cache-dtype", "f32"]).stdout.rstrip("\n")
c.check(len(ref) > 60 and expected.startswith(ref), f"F32 reference is the MANIFEST story ({ref[:60]!r}...)")
for n in (1, 2):
    q8 = mpirun(n, args + ["--weight-dtype", "q8_0"]).stdout.rstrip("\n")
    c.check(q8 == ref, f"np={n}: Q8_0 weights give the F32 story for 32 tokens ({q8[:60]!r}...)")
    kv16 = mpirun(n, args + ["--kv-cache-dtype", "f16"]).stdout.rstrip("\n")
    c.check(kv16 == ref, f"np={n}: F16 KV cache gives the F32 story")
# The same on every vector path this machine has (an AVX2-only machine runs the avx2 one).
for isa in ("scalar", "avx2", "avx512"):
    r = mpirun(1, args + ["--weight-dtype", "q8_0"], env={"SHARDLM_CPU": isa}, check=False)
    if r.returncode != 0 and "not available" in r.stderr:
        print(f"info: {isa} not available here")
        continue
    c.check(r.returncode == 0 and r.stdout.rstrip("\n") == ref, f"SHARDLM_CPU={isa}: Q8_0 story unchanged")
q4 = mpirun(1, args + ["--weight-dtype", "q4_0"]).stdout
common = next((i for i, (a, b) in enumerate(zip(q4, ref)) if a != b), min(len(q4), len(ref)))
print(f"info: Q4_0 agrees with F32 for the first {common} characters")
c.check(common >= 40, f"Q4_0 weights start the same story ({common} characters in common)")
r = mpirun(1, args + ["--weight-dtype", "q9_9"], check=False)
c.check(r.returncode != 0 and "weight-dtype" in (r.stderr + r.stdout), "an unknown --weight-dtype is refused clearly")
c.finish()
