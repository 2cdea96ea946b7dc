# label: e2e
"""Speculative sampling (issue 15) through a 2-rank server on stories260K: sampled
requests are speculated and verified exactly.
- n-gram proposals (certain: q = 1) are verified against the row's ordinary sample, so
  a sampled request gives the same tokens as without speculation, seed for seed, with
  filters and penalties too;
- the draft model's sampled proposals go through rejection sampling against its q, so
  over a fixed set of seeds the distribution of the speculated tokens equals the one
  without speculation (two-sample chi-square);
- no token is ever outside top_k / top_p (both proposers);
- greedy requests with repetition / presence / frequency penalties produce the same
  text with speculation on and off (both proposers).

The first token of a request comes from the prefill step (never speculated), so it is
the same token for the same seed on and off: a check that the seeds line up. Tokens 2
and 3 are the first speculated ones. The statistics are deterministic (fixed seeds);
the threshold is about 8 standard deviations above the mean of the statistic."""
import concurrent.futures as cf
import math
import os
import tempfile

from serverlib import Server
from testlib import Checks, need_shared, run

stories = need_shared("stories260K", "stories260K.gguf")
c = Checks()
PROMPT = ("Once upon a time, there was a little girl named Lily. She loved to play outside. "
          "Once upon a time, there was a little girl named Lily. She loved to")
NGRAM = ["--spec-decode", "ngram", "--num-speculative-tokens", "5", "--spec-max-seqs", "64", "--spec-probe-steps", "1"]
N = 600


def par(fn, items, workers=16):
    with cf.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, items))


def spec_counts(srv):
    return srv.request("GET", "/v1/spec_decode/metrics")[2]


def token_ids(srv, seed, **kw):
    body = dict({"prompt": PROMPT, "max_tokens": 4, "temperature": 1.0, "seed": seed, "ignore_eos": True,
                 "return_token_ids": True}, **kw)
    st, _, b = srv.request("POST", "/v1/completions", body)
    return b["choices"][0]["token_ids"] if st == 200 else None


def two_sample_chi(a, b):
    """Chi-square of two equal-size samples; bins with fewer than 10 together are pooled."""
    keys = set(a) | set(b)
    stat, bins, pa, pb = 0.0, 0, 0, 0
    for k in keys:
        x, y = a.get(k, 0), b.get(k, 0)
        if x + y < 10:
            pa, pb = pa + x, pb + y
            continue
        stat += (x - y) ** 2 / (x + y)
        bins += 1
    if pa + pb > 0:
        stat += (pa - pb) ** 2 / (pa + pb)
        bins += 1
    dof = max(1, bins - 1)
    return stat, dof, dof + 8 * math.sqrt(2 * dof) + 10


def hist(rows, i):
    h = {}
    for r in rows:
        h[r[i]] = h.get(r[i], 0) + 1
    return h


def sample_run(args, **kw):
    srv = Server(stories, args=args)
    try:
        before = spec_counts(srv)
        got = par(lambda s: token_ids(srv, s, **kw), range(1, N + 1))
        after = spec_counts(srv)
        return got, before, after
    finally:
        srv.stop()


def compare(label, off, on, identical=False):
    (a, _, _), (b, before, after) = off, on
    c.check(all(x is not None and len(x) == 4 for x in a + b), f"{label}: every request answered with 4 tokens")
    if not all(x is not None and len(x) == 4 for x in a + b):
        return
    c.check([x[0] for x in a] == [x[0] for x in b], f"{label}: the first (prefill) token is the same per seed")
    drafts = after["num_drafts"] - before["num_drafts"]
    acc = after["num_accepted_tokens"] - before["num_accepted_tokens"]
    prop = after["num_draft_tokens"] - before["num_draft_tokens"]
    c.check(drafts >= N // 2 and 0 < acc < prop,
            f"{label}: sampled requests were speculated ({drafts} drafts, {acc} of {prop} tokens accepted)")
    if identical:
        same = sum(x == y for x, y in zip(a, b))
        c.check(same == len(a), f"{label}: the same 4 tokens as without speculation for {same} of {len(a)} seeds")
    for i in (1, 2):
        stat, dof, thr = two_sample_chi(hist(a, i), hist(b, i))
        c.check(stat < thr, f"{label}: token {i + 1} distribution on = off (chi-square {stat:.1f}, dof {dof}, limit {thr:.1f})")


# 1. Distribution, n-gram proposer: the full vocabulary (no filter), then top_k + top_p.
off = sample_run([])
on = sample_run(NGRAM)
compare("n-gram, temperature 1", off, on, identical=True)
off_f = sample_run([], top_k=8, top_p=0.9)
on_f = sample_run(NGRAM, top_k=8, top_p=0.9)
compare("n-gram, top_k 8 top_p 0.9", off_f, on_f, identical=True)

# 2. Distribution, draft proposer (stories260K's own Q8_0 copy).
tmp = tempfile.mkdtemp(prefix="shardlm-spec-sampling-")
draft = os.path.join(tmp, "stories260K-q8_0.gguf")
run(["quantize", stories, draft, "--type", "Q8_0"])
DRAFT = ["--spec-decode", "draft", "--draft-model", draft, "--num-speculative-tokens", "4", "--spec-max-seqs", "64",
         "--spec-probe-steps", "1"]
compare("draft model, temperature 1", off, sample_run(DRAFT))
compare("draft model, top_k 8 top_p 0.9", off_f, sample_run(DRAFT, top_k=8, top_p=0.9))

# 3. No token outside top_k / top_p, with speculation on (both proposers).
def in_support(srv, seed, top_k=0, top_p=1.0):
    n_lp = top_k if top_k else 20
    body = {"prompt": PROMPT, "max_tokens": 40, "temperature": 1.0, "seed": seed, "ignore_eos": True,
            "logprobs": n_lp}
    if top_k:
        body["top_k"] = top_k
    if top_p < 1:
        body["top_p"] = top_p
    st, _, b = srv.request("POST", "/v1/completions", body)
    if st != 200:
        return False, 0
    lp = b["choices"][0]["logprobs"]
    bad = 0
    for tok, tlp, alts in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"]):
        if top_k and tok not in alts:
            bad += 1
        if top_p < 1 and sum(math.exp(v) for v in alts.values() if v > tlp + 1e-6) >= top_p:
            bad += 1
    return True, bad


for args, label in [(NGRAM, "n-gram"), (DRAFT, "draft")]:
    srv = Server(stories, args=args)
    try:
        before = spec_counts(srv)
        k_runs = par(lambda s: in_support(srv, s, top_k=3), range(1, 41))
        p_runs = par(lambda s: in_support(srv, s, top_p=0.6), range(1, 41))
        after = spec_counts(srv)
    finally:
        srv.stop()
    c.check(all(ok for ok, _ in k_runs + p_runs), f"{label}: every top_k / top_p request answered 200")
    c.check(sum(b for _, b in k_runs) == 0, f"{label}: no token outside top_k 3 in 40 x 40 tokens")
    c.check(sum(b for _, b in p_runs) == 0, f"{label}: no token outside top_p 0.6 in 40 x 40 tokens")
    c.check(after["num_drafts"] - before["num_drafts"] > 100,
            f"{label}: those requests were speculated ({after['num_drafts'] - before['num_drafts']} drafts)")

# 4. Greedy with penalties: the same text with speculation on and off.
prompts = ["Once upon a time", "The little dog", "Lily and Ben went", "One day, a big bird", PROMPT]
PEN = {"repetition_penalty": 1.3, "presence_penalty": 0.4, "frequency_penalty": 0.3}


def pen_texts(args):
    srv = Server(stories, args=args)
    try:
        before = spec_counts(srv)
        got = par(lambda p: srv.request("POST", "/v1/completions", dict(
            {"prompt": p, "max_tokens": 150, "temperature": 0, "ignore_eos": True}, **PEN)), prompts, 5)
        sampled = srv.request("POST", "/v1/completions", dict(
            {"prompt": PROMPT, "max_tokens": 60, "temperature": 0.8, "seed": 5, "ignore_eos": True}, **PEN))
        after = spec_counts(srv)
        sampled = (sampled[0], sampled[2]["choices"][0]["text"] if sampled[0] == 200 else sampled[2])
        return [(st, b["choices"][0]["text"] if st == 200 else b) for st, _, b in got], sampled, before, after
    finally:
        srv.stop()


p_off = pen_texts([])
p_on = pen_texts(NGRAM)
c.check(all(st == 200 for st, _ in p_off[0] + p_on[0]), "penalties: every request answered 200")
c.check([t for _, t in p_on[0]] == [t for _, t in p_off[0]], "penalties: greedy texts equal with n-gram speculation")
c.check(p_on[3]["num_drafts"] - p_on[2]["num_drafts"] > 0 and p_on[3]["num_accepted_tokens"] > p_on[2]["num_accepted_tokens"],
        f"penalties: proposals were made and accepted ({p_on[3]})")
c.check(p_on[1][0] == 200 and p_on[1] == p_off[1],
        "penalties: a sampled request with penalties gives the same text with n-gram speculation")
d_on = pen_texts(DRAFT)
c.check([t for _, t in d_on[0]] == [t for _, t in p_off[0]], "penalties: greedy texts equal with the draft proposer")
c.check(d_on[1][0] == 200, "penalties: a sampled request with penalties and the draft proposer answers 200")
c.finish()
