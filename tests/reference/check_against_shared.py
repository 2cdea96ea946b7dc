#!/usr/bin/python3
"""Cross-checks tests/reference against the shared reference (../shared/tools/reference)
and the shared models' expected greedy outputs.

    /usr/bin/python3 tests/reference/check_against_shared.py

Shared folder: $SHARDLM_SHARED, else ../shared next to the repository. Prints
"SKIP: ..." and exits 77 when it is absent; exits 1 if any check fails.
Checks:
  - logits at every position of the prompt + greedy story sequences from
    stories260K.gguf, stories260K.bin and TinyStories-656K agree with the shared
    reference's within 1e-4 (max abs);
  - greedy ids from stories260K [1, 403, 407, 261, 378] equal the shared reference's,
    and decode (GGUF vocabulary) to expected-greedy-once-upon-a-time.txt;
  - greedy ids from TinyStories-656K [1, 80, 147, 201, 282, 57] until EOS equal the
    ids of its expected file.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("SHARDLM_SHARED", os.path.join(REPO, "..", "shared"))
PY = os.environ.get("SHARDLM_PYTHON", "/usr/bin/python3")
MINE = os.path.join(HERE, "ref.py")
THEIRS = os.path.join(SHARED, "tools", "reference", "ref.py")
MODELS = os.path.join(SHARED, "models")
TOL = 1e-4
STORIES_PROMPT = [1, 403, 407, 261, 378]
TS656_PROMPT = [1, 80, 147, 201, 282, 57]

failed = 0


def check(ok, what):
    global failed
    failed += not ok
    print(("ok: " if ok else "FAIL: ") + what)


def run(script, model, ids, extra):
    r = subprocess.run([PY, script, "--model", model, "--ids", json.dumps(ids)] + extra,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-4000:])
        raise SystemExit("FAIL: %s exited %d" % (script, r.returncode))
    return json.loads(r.stdout)


def all_logits(script, model, ids, tmp):
    out = os.path.join(tmp, "mine.npy" if script == MINE else "shared.npy")
    run(script, model, ids, ["--logits-out", out] + (["--all"] if script == MINE else []))
    return np.load(out)                                      # (n_tok, n_vocab)


def decode_runc(gguf_path, ids):
    """Text that llama2.c's run.c prints for ids (BOS first): pieces of ids[1:],
    leading space dropped after BOS, <0xXX> as bytes, then a newline."""
    sys.path.insert(0, HERE)
    from gguf_reader import GGUF
    vocab = GGUF(gguf_path).meta["tokenizer.ggml.tokens"]
    out = b""
    for prev, t in zip(ids, ids[1:]):
        piece = vocab[t].replace("\u2581", " ")
        if prev == 1 and piece.startswith(" "):
            piece = piece[1:]
        m = re.fullmatch(r"<0x([0-9A-Fa-f]{2})>", piece)
        out += bytes([int(m.group(1), 16)]) if m else piece.encode("utf-8")
    return out.decode("utf-8", errors="replace") + "\n"


def main():
    if not os.path.exists(THEIRS) or not os.path.isdir(MODELS):
        print("SKIP: shared reference/models not found under %s" % SHARED)
        sys.exit(77)
    tmp = tempfile.mkdtemp()
    gguf = os.path.join(MODELS, "stories260K", "stories260K.gguf")
    ckpt = os.path.join(MODELS, "stories260K", "stories260K.bin")
    ts656 = os.path.join(MODELS, "TinyStories-656K")

    # stories260K: run.c forwards 256 positions and prints the id predicted at each:
    # 4 prompt ids + 252 greedy ids (it would stop at BOS).
    greedy = ["--greedy", "252", "--stop", "1"]
    ref_ids = run(THEIRS, gguf, STORIES_PROMPT, greedy)["greedy"]
    for model in (gguf, ckpt):
        got = run(MINE, model, STORIES_PROMPT, greedy)["greedy"]
        check(got == ref_ids, "%s: %d greedy ids equal the shared reference's"
              % (os.path.basename(model), len(got)))
    with open(os.path.join(MODELS, "stories260K", "expected-greedy-once-upon-a-time.txt"),
              encoding="utf-8") as f:
        expected = f.read()
    check(decode_runc(gguf, STORIES_PROMPT + got) == expected,
          "stories260K: greedy text equals expected-greedy-once-upon-a-time.txt")

    # TinyStories-656K: greedy until EOS equals the expected ids.
    with open(os.path.join(ts656, "expected-greedy-once-upon-a-time.txt")) as f:
        exp_ids = json.loads(re.search(r"^ids (\[.*\])$", f.read(), re.M).group(1))
    got656 = run(MINE, ts656, TS656_PROMPT, ["--greedy", "1000", "--stop", "2"])["greedy"]
    check(TS656_PROMPT + got656 == exp_ids, "TinyStories-656K: %d greedy ids equal the expected file"
          % len(got656))

    # Logits at every position of the prompt + story sequences.
    for model, seq in ((gguf, STORIES_PROMPT + ref_ids), (ckpt, STORIES_PROMPT + ref_ids),
                       (ts656, exp_ids)):
        a, b = all_logits(MINE, model, seq, tmp), all_logits(THEIRS, model, seq, tmp)
        d = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
        same = int(np.sum(a.argmax(-1) == b.argmax(-1))) if a.shape == b.shape else 0
        check(d <= TOL, "%s: %d positions, logits max |diff| %.3g <= %g (argmax equal at %d)"
              % (os.path.basename(model), len(seq), d, TOL, same))
    print("%s" % ("FAILED" if failed else "all passed"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
