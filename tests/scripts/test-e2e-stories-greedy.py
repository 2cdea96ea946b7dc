# label: e2e
"""The trained stories260K model reproduces, at temperature 0, exactly the text that
llama2.c's run.c prints (MANIFEST), from the GGUF and from the llama2.c checkpoint,
on 1, 2 and 4 ranks."""
import os
from testlib import Checks, need_shared, mpirun

gguf = need_shared("stories260K", "stories260K.gguf")
expected = open(need_shared("stories260K", "expected-greedy-once-upon-a-time.txt"), encoding="utf-8").read()
ckpt = need_shared("stories260K", "stories260K.bin")
tok = need_shared("stories260K", "tok512.bin")

c = Checks()
# BOS + 4 prompt tokens + 252 generated (run.c prints the id predicted at each of 256 positions), as run.c.
for model, extra in [(gguf, []), (ckpt, ["--tokenizer", tok])]:
    for n in (1, 2, 4):
        r = mpirun(n, ["generate", "--model", model, "--prompt", "Once upon a time", "-n", "252", "--temp", "0"] + extra)
        c.check(r.stdout == expected, f"{os.path.basename(model)} np={n}: text equals run.c's byte for byte")
        if r.stdout != expected:
            print("got:\n" + r.stdout)
        c.check("figures:" in r.stderr and "decode_tok_s=" in r.stderr, f"np={n}: figures line printed")
        c.check(r.stderr.count("EXIT AUDIT") == n, f"np={n}: one EXIT AUDIT per rank")
# generate is a client of the serving engine: a stop string ends the text right before it.
stop = "red ball"
cut = expected.index(stop)
r = mpirun(2, ["generate", "--model", gguf, "--prompt", "Once upon a time", "-n", "252", "--temp", "0", "--stop", stop])
c.check(r.stdout == expected[:cut] + "\n", f"--stop {stop!r}: text ends right before it ({r.stdout[-40:]!r})")
c.check("finish=stop" in r.stderr, "--stop: figures say finish=stop")
# Chunked prefill (-b 2: the 5-token prompt in 3 steps) gives the same text.
r = mpirun(2, ["generate", "--model", gguf, "--prompt", "Once upon a time", "-n", "252", "--temp", "0", "-b", "2"])
c.check(r.stdout == expected, "-b 2: chunked prefill gives the same text")
c.finish()
