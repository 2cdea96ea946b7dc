#!/usr/bin/python3
"""shardlm reference forward, command line.

    /usr/bin/python3 tests/reference/ref.py --model PATH --ids '[1, 2, 3]'
        [--greedy N] [--stop ID ...] [--logits-out FILE.npy] [--all] [--f64]

PATH: a .gguf file, a Hugging Face directory (config.json + safetensors), or a
llama2.c .bin checkpoint. Prints one JSON object:
    {"model": {...hparams...}, "n_prompt": int,
     "last_logits_top5": [[id, logit], ...5],  "argmax": int,
     "greedy": [ids...]}            (greedy: N ids, fewer if a --stop id came; it is included)
--logits-out writes float32 logits of the last prompt position, shape (n_vocab,),
or of every prompt position with --all, shape (n_prompt, n_vocab).
"""
import argparse
import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forward import load_model  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description="shardlm NumPy reference forward")
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True, help="prompt ids as a JSON list")
    ap.add_argument("--greedy", type=int, default=0, metavar="N")
    ap.add_argument("--stop", type=int, action="append", default=[], metavar="ID")
    ap.add_argument("--logits-out", metavar="FILE.npy")
    ap.add_argument("--all", action="store_true", help="write logits of all prompt positions")
    ap.add_argument("--f64", action="store_true", help="compute in float64")
    a = ap.parse_args(argv)

    ids = [int(t) for t in json.loads(a.ids)]
    if not ids:
        ap.error("empty --ids")
    m = load_model(a.model, np.float64 if a.f64 else np.float32)
    if any(t < 0 or t >= m.n_vocab for t in ids):
        ap.error("id out of range [0, %d)" % m.n_vocab)
    gen, logits = m.greedy(ids, a.greedy, set(a.stop)) if a.greedy > 0 else ([], m.forward(ids))
    logits = np.asarray(logits, dtype=np.float32)            # (n_prompt, n_vocab)
    last = logits[-1]
    top = np.argsort(-last, kind="stable")[:5]
    if a.logits_out:
        np.save(a.logits_out, logits if a.all else last)
    hp = {k: v for k, v in vars(m.hp).items() if k != "freq_factors"}
    hp["n_vocab"] = m.n_vocab
    print(json.dumps({"model": hp, "n_prompt": len(ids),
                      "last_logits_top5": [[int(i), round(float(last[i]), 6)] for i in top],
                      "argmax": int(np.argmax(last)), "greedy": gen}))


if __name__ == "__main__":
    main()
