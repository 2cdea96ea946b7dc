// `shardlm generate`: one prompt, streamed to stdout, as a client of the same engine
// that serves HTTP (engine/engine.h): one scheduler, one code path for chunked prefill,
// decode, end-of-generation and stop strings. The engine runs on the main thread (the
// only MPI caller); the request is submitted and printed from a second thread.
#include <chrono>
#include <cstdio>
#include <thread>

#include "app/app.h"
#include "shardlm/core/log.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/cluster/exit-audit.h"
#include "shardlm/cluster/worker-loop.h"
#include "shardlm/engine/engine.h"

namespace shardlm {

namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// What the client thread saw of its one request.
struct GenerateOutcome {
  std::string cause, error;  // EXIT AUDIT cause and message when it failed
  size_t prompt_tokens = 0;
  int generated = 0;         // tokens printed (an end-of-generation token is not)
  double prefill_s = 0, decode_s = 0;
  std::string finish = "length";
};

void print(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

// Waits for the model, tokenizes, submits, prints every event until the last.
GenerateOutcome run_client(Engine& engine, const GenerateOptions& o) {
  GenerateOutcome out;
  EngineSnapshot snap = engine.wait_loaded(1e9);
  auto tok = engine.tokenizer();
  if (snap.state != ModelState::ready || !tok) {
    const bool guard = snap.last_error.find("MemoryGuardError") != std::string::npos;
    out.cause = guard ? "memory_guard" : "load_error";
    out.error = "load failed: " + snap.last_error;
    return out;
  }
  std::vector<int32_t> prompt = tok->encode(o.prompt, o.add_bos && tok->add_bos_default(), false);
  out.prompt_tokens = prompt.size();
  if (prompt.empty()) return {"error", "the prompt is empty (and the tokenizer adds no BOS)"};
  if (static_cast<int64_t>(prompt.size()) + o.n_predict > snap.max_context)
    return {"error", fmt::format("prompt ({} tokens) plus -n {} exceeds the context of {} tokens (--ctx-size, --kv-blocks)",
                                 prompt.size(), o.n_predict, snap.max_context)};
  if (o.echo) {
    StreamDecoder dec(*tok);
    std::string text;
    for (auto id : prompt) text += dec.push(id);
    print(text + dec.flush());
  }
  EngineRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = o.n_predict;
  r.sampling = o.sampling;
  r.stop = o.stop;
  r.ignore_eos = o.ignore_eos;
  r.logprobs = true;  // one event per token: exact counts and first-token time
  r.results = std::make_shared<ResultQueue>();
  auto results = r.results;
  const auto t0 = Clock::now();
  auto t_first = t0;
  engine.submit(std::move(r));
  for (;;) {
    auto e = results->pop(1.0);
    if (!e) continue;
    if (out.generated == 0 && !e->tokens.empty()) t_first = Clock::now();
    out.generated += static_cast<int>(e->tokens.size());
    print(e->text);
    if (!e->done) continue;
    if (e->error) return {"error", e->error.message};
    if (e->stop_token >= 0) {
      out.finish = "eos";
      --out.generated;  // the end-of-generation token is counted by the engine, not printed
    }
    else if (!e->stop_string.empty()) out.finish = "stop";
    break;
  }
  const auto t_end = Clock::now();
  if (out.generated == 0) t_first = t_end;
  print("\n");
  out.prefill_s = secs(t_first - t0);
  out.decode_s = secs(t_end - t_first);
  return out;
}

}  // namespace

int cmd_generate(const GenerateOptions& o) {
  if (Comm::rank() != 0) {
    WorkerLoopConfig wc;
    wc.idle_timeout_s = std::max(o.engine.rt.collective_timeout_s, o.engine.rt.eval_timeout_s);
    return worker_loop(wc);
  }
  EngineOptions eo = o.engine;
  eo.sched.max_num_seqs = 1;    // one sequence: the KV pool is sized for one context
  eo.request_timeout_s = 0;     // no deadline on a command-line run
  Status sv = o.sampling.validate();
  if (!sv) eo.rt.model_path.clear();  // nothing to load: the client reports the error
  Engine engine(eo);
  // A lost rank or a missed deadline (on the engine thread): the EXIT AUDIT, then abort.
  Comm::set_fatal_handler([&engine](const std::string& cause, const std::string& detail) {
    engine.fail_now(cause + ": " + detail);
    exit_audit(cause, detail);
  });
  GenerateOutcome out;
  std::thread client([&] {
    if (!sv) out = {"error", "invalid sampling parameters: " + sv.message()};
    else if (o.n_predict < 0) out = {"error", "-n must be >= 0"};
    else out = run_client(engine, o);
    engine.stop();
  });
  engine.run();
  client.join();
  if (!out.cause.empty()) {
    LOG_ERROR("{}", out.error);
    exit_audit(out.cause, out.error);
    return 1;
  }
  const EngineSnapshot s = engine.snapshot();
  std::string rss_s;
  for (size_t r = 0; r < s.shutdown_rss.size(); ++r) rss_s += fmt::format("{}{:.1f}", r ? "," : "", s.shutdown_rss[r] / 1048576.0);
  const int decoded = std::max(0, out.generated - 1);
  LOG_INFO(
      "figures: prompt_tokens={} prefill_s={:.3f} prefill_tok_s={:.2f} generated_tokens={} decode_s={:.3f} "
      "decode_tok_s={:.2f} load_s={:.2f} rss_mb_per_rank=[{}] ranks={} collective_s_per_step={:.5f} finish={} "
      "steps={} spec_drafts={} spec_draft_tokens={} spec_accepted_tokens={} spec_proposer_s={:.3f}",
      out.prompt_tokens, out.prefill_s, out.prompt_tokens / std::max(out.prefill_s, 1e-9), out.generated, out.decode_s,
      decoded / std::max(out.decode_s, 1e-9), s.load_s, rss_s, Comm::size(),
      s.collective_s_total / static_cast<double>(std::max<uint64_t>(s.steps, 1)), out.finish, s.steps, s.spec_drafts,
      s.spec_draft_tokens, s.spec_accepted_tokens, s.spec_proposer_s);
  exit_audit("generate_done");
  return 0;
}

}  // namespace shardlm
