# label: e2e
"""Batch invariance end to end (issue 19 point 1): a greedy request's text is the same
whether it runs alone or shares its steps with other requests (their prefills, their
decodes, started at different moments), on the F32 stories260K and on its weights
re-encoded at load as Q8_0 and Q4_0, on 1 and 2 ranks. The oracle is the same request
alone on the same server. The companions' own texts are checked against their alone
texts too. Speed-mode servers (--no-batch-invariant) are run for information only:
they show whether this machine's GEMMs would change the text."""
import threading
import time

from serverlib import Server
from testlib import Checks, need_shared

gguf = need_shared("stories260K", "stories260K.gguf")
c = Checks()
TARGET = {"prompt": "Once upon a time", "max_tokens": 300, "temperature": 0, "ignore_eos": True}
# Companions: a long prompt (a prefill of many tokens beside the target's decode), short
# and long generations, started at different moments.
COMPANIONS = [
    {"prompt": "The little dog " * 12, "max_tokens": 120, "temperature": 0, "ignore_eos": True},
    {"prompt": "Lily and Ben went to the park.", "max_tokens": 250, "temperature": 0, "ignore_eos": True},
    {"prompt": "One day", "max_tokens": 60, "temperature": 0, "ignore_eos": True},
]


def text(srv, body):
    st, _, b = srv.request("POST", "/v1/completions", body, timeout=300)
    return b["choices"][0]["text"] if st == 200 else f"<status {st}: {b}>"


def batched(srv):
    """The target and its companions at once: the target first, each companion a little
    later (so they join at different points of its decode). Returns their texts."""
    bodies = [TARGET] + COMPANIONS
    out = [None] * len(bodies)

    def run(i):
        time.sleep(0.05 * i)
        out[i] = text(srv, bodies[i])

    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(600)
    return out


def first_diff(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


for ranks in (1, 2):
    for wd in ("", "q8_0", "q4_0"):
        name = f"{wd or 'f32'}, {ranks} rank{'s' if ranks > 1 else ''}"
        extra = ["--weight-dtype", wd] if wd else []
        srv = Server(gguf, ranks=ranks, args=["--max-num-seqs", "4"] + extra)
        try:
            alone = [text(srv, b) for b in [TARGET] + COMPANIONS]
            got = batched(srv)
            got2 = batched(srv)
        finally:
            srv.stop()
        for i, (a, g, g2) in enumerate(zip(alone, got, got2)):
            who = "target" if i == 0 else f"companion {i}"
            c.check(len(a) > 100 and g == a and g2 == a,
                    f"{name}: the {who}'s greedy text in a batch equals its text alone "
                    f"({len(a)} chars; first difference at {first_diff(a, g)} / {first_diff(a, g2)})")

# Speed mode (information only): the same target with the GEMMs allowed.
srv = Server(gguf, ranks=1, args=["--max-num-seqs", "4", "--no-batch-invariant"])
try:
    alone = text(srv, TARGET)
    got = batched(srv)[0]
finally:
    srv.stop()
print(f"info: --no-batch-invariant, f32, 1 rank: the target's batched text "
      f"{'equals' if got == alone else 'differs from'} its text alone (first difference at {first_diff(alone, got)})")
c.finish()
