# label: e2e
"""Speculative decoding (n-gram proposer): greedy output equals the output without it,
through `shardlm generate` on 1, 2 and 4 ranks and through a 2-rank server with
concurrent requests, prefix caching and KV preemption in play; the proposals are
accepted on the trained models' repetitive text and counted in
/v1/spec_decode/metrics and /metrics; sampled requests are speculated and give the same text (test-e2e-spec-sampling)."""
import concurrent.futures as cf
import os
import tempfile

from serverlib import Server
from testlib import Checks, mpirun, need_shared, run

stories = need_shared("stories260K", "stories260K.gguf")
tiny = need_shared("TinyStories-656K")
c = Checks()
SPEC = ["--spec-decode", "ngram", "--num-speculative-tokens", "5", "--spec-probe-steps", "1"]

# 1. generate: the same text with and without proposals.
for model, n_tok, ranks in [(stories, 400, (1, 2, 4)), (tiny, 300, (2,))]:
    for n in ranks:
        base = ["generate", "--model", model, "--prompt", "Once upon a time", "-n", str(n_tok), "--temp", "0", "--ignore-eos"]
        off = mpirun(n, base)
        on = mpirun(n, base + SPEC)
        c.check(on.stdout == off.stdout and len(on.stdout) > 100,
                f"generate {model.split('/')[-1]} np={n}: greedy text equal with n-gram speculation")

# 2. server: concurrent greedy requests, with and without speculation, same texts.
prompts = ["Once upon a time", "The little dog", "Lily and Ben went", "One day, a big bird",
           "Once upon a time, there was a little girl named Lily."]


def completion(srv, p, n=200, **kw):
    return srv.request("POST", "/v1/completions", dict({"prompt": p, "max_tokens": n, "temperature": 0, "ignore_eos": True}, **kw))


def texts(srv, n=200, **kw):
    with cf.ThreadPoolExecutor(len(prompts)) as ex:
        got = list(ex.map(lambda p: completion(srv, p, n, **kw), prompts))
    return [(st, b["choices"][0]["text"] if st == 200 else b) for st, _, b in got]


def run_server(args, n=200, **kw):
    srv = Server(stories, args=args)
    try:
        first = texts(srv, n, **kw)
        again = texts(srv, n, **kw)  # prompts now in the prefix cache
        spec = srv.request("GET", "/v1/spec_decode/metrics")[2]
        metrics = srv.request("GET", "/metrics")[2]
        sampled = completion(srv, prompts[0], 40, temperature=0.9, seed=11, ignore_eos=False)
        mid = srv.request("GET", "/v1/spec_decode/metrics")[2]
        plain = completion(srv, prompts[0], 100, spec_decode=False)
        after = srv.request("GET", "/v1/spec_decode/metrics")[2]
        return first, again, spec, metrics, sampled, plain, after, mid
    finally:
        srv.stop()


off = run_server([])
on = run_server(SPEC + ["--spec-max-seqs", "8"])
c.check(all(st == 200 for st, _ in off[0] + on[0]), "server: every request answered 200")
c.check([t for _, t in on[0]] == [t for _, t in off[0]], "server: concurrent greedy texts equal with speculation")
c.check([t for _, t in on[1]] == [t for _, t in off[1]] == [t for _, t in off[0]],
        "server: the same with the prompts in the prefix cache")
spec = on[2]
keys = {"mode", "num_speculative_tokens", "num_drafts", "num_draft_tokens", "num_accepted_tokens", "acceptance_rate",
        "mean_accepted_length", "accepted_by_position", "estimated_speedup", "proposer_seconds"}
c.check(keys <= set(spec), f"/v1/spec_decode/metrics has vLLM's keys ({sorted(set(spec))})")
c.check(spec.get("mode") == "ngram" and spec.get("num_accepted_tokens", 0) > 0 and spec.get("num_drafts", 0) > 0,
        f"proposals were made and accepted ({spec})")
c.check(0 < spec.get("acceptance_rate", 0) <= 1 and spec.get("mean_accepted_length", 0) > 1,
        "acceptance rate and mean accepted length are consistent")
by_pos = spec.get("accepted_by_position", [])
c.check(len(by_pos) == 5 and all(by_pos[i] >= by_pos[i + 1] for i in range(4)) and by_pos[0] <= spec["num_drafts"],
        f"accepted_by_position is non-increasing ({by_pos})")
line = [l for l in on[3].splitlines() if l.startswith("shardlm_spec_decode_accepted_tokens_total")]
c.check(line and float(line[0].split()[-1]) == spec["num_accepted_tokens"], f"/metrics counts the same ({line})")
c.check(off[2]["mode"] == "off" and off[2]["num_drafts"] == 0, "without --spec-decode nothing is proposed")
c.check(on[4][0] == 200 and on[4][2]["choices"][0]["text"] == off[4][2]["choices"][0]["text"]
        and on[7]["num_drafts"] > on[2]["num_drafts"],
        "a sampled request is speculated and gives the same text (n-gram drafts are verified against its own draws)")

c.check(on[5][0] == 200 and on[5][2]["choices"][0]["text"] == off[0][0][1][:len(on[5][2]["choices"][0]["text"])]
        and on[6]["num_drafts"] == on[7]["num_drafts"],
        "\"spec_decode\": false: the same text, and no proposals for that request")

# 3. preemption with speculation: a pool too small for the four requests at once.
pre_args = ["--kv-blocks", "12", "--max-num-seqs", "4", "--max-batch-tokens", "32"]


def pre_run(args):
    srv = Server(stories, args=pre_args + args)
    try:
        got = texts(srv, 150)
        return got, srv.request("GET", "/admin/status")[2]["kv_cache"]["preemptions"]
    finally:
        srv.stop()


a, _ = pre_run([])
b, pre = pre_run(SPEC + ["--spec-max-seqs", "8"])
c.check([t for _, t in a] == [t for _, t in b] and all(st == 200 for st, _ in a + b),
        f"with KV preemption (preemptions {pre}) the speculated texts equal the plain ones")

# 4. The draft-model proposer: stories260K drafted by its own Q8_0 copy,
# TinyStories-656K by its MLX 8-bit copy; the same greedy text on 1, 2 and 4 ranks.
tmp = tempfile.mkdtemp(prefix="shardlm-draft-")
draft260 = os.path.join(tmp, "stories260K-q8_0.gguf")
run(["quantize", stories, draft260, "--type", "Q8_0"])
tiny8 = need_shared("TinyStories-656K-mlx-8bit")
for model, draft, ranks in [(stories, draft260, (1, 2, 4)), (tiny, tiny8, (2,))]:
    for n in ranks:
        base = ["generate", "--model", model, "--prompt", "Once upon a time", "-n", "300", "--temp", "0", "--ignore-eos"]
        off_g = mpirun(n, base)
        on_g = mpirun(n, base + ["--spec-decode", "draft", "--draft-model", draft])
        c.check(on_g.stdout == off_g.stdout and len(on_g.stdout) > 100 and "draft model" in on_g.stderr,
                f"draft proposer, generate {model.split('/')[-1]} np={n}: greedy text equal")
bad = mpirun(2, ["generate", "--model", tiny, "--prompt", "Once", "-n", "8", "--spec-decode", "draft", "--draft-model", draft260],
             check=False)
c.check(bad.returncode != 0 and "vocabulary is not the target's" in bad.stderr,
        f"a draft with another vocabulary is refused with the reason (rc {bad.returncode})")
bad = run(["generate", "--model", stories, "--prompt", "Once", "--spec-decode", "draft"], check=False)
c.check(bad.returncode == 2 and "--draft-model" in bad.stderr, "--spec-decode draft without --draft-model: exit 2")
d_off = run_server([])
d_on = run_server(["--spec-decode", "draft", "--draft-model", draft260, "--spec-max-seqs", "8"])
c.check([t for _, t in d_on[0]] == [t for _, t in d_off[0]] and all(st == 200 for st, _ in d_on[0]),
        "draft proposer, server: concurrent greedy texts equal")
c.check(d_on[2]["mode"] == "draft" and d_on[2]["num_accepted_tokens"] > 0 and d_on[2]["acceptance_rate"] > 0.5,
        f"draft proposer: proposals accepted ({d_on[2]})")
c.finish()
