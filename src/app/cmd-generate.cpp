// `shardlm generate`: one prompt, streamed to stdout, driven through the step
// protocol so that every rank runs exactly what the server will send it.
#include <chrono>
#include <cstdio>

#include "app/app.h"
#include "shardlm/core/log.h"
#include "shardlm/core/memory.h"
#include "shardlm/dist/channel.h"
#include "shardlm/dist/comm.h"
#include "shardlm/dist/exit-audit.h"
#include "shardlm/dist/rank-model.h"
#include "shardlm/dist/step-executor.h"
#include "shardlm/dist/worker-loop.h"
#include "shardlm/kv/block-pool.h"
#include "shardlm/sampling/candidates.h"
#include "shardlm/sampling/merge.h"
#include "shardlm/tokenizer/tokenizer.h"

namespace shardlm {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int fail(const std::string& cause, const std::string& msg) {
  LOG_ERROR("{}", msg);
  if (Comm::size() > 1) {
    channel_send(MsgKind::SHUTDOWN, {}, 30);
    (void)shutdown_gather_rss(30);
  }
  exit_audit(cause, msg);
  return 1;
}

}  // namespace

int cmd_generate(const GenerateOptions& o) {
  if (Comm::rank() != 0) {
    WorkerLoopConfig wc;
    wc.idle_timeout_s = std::max(o.rt.collective_timeout_s, o.rt.eval_timeout_s);
    return worker_loop(wc);
  }
  Status sv = o.sampling.validate();
  if (!sv) return fail("error", "invalid sampling parameters: " + sv.message());
  if (o.n_predict < 0) return fail("error", "-n must be >= 0");

  // Tokenizer first (rank 0 only): a bad tokenizer fails before any rank loads.
  std::string tok_path = o.rt.tokenizer_path;
  if (tok_path.empty()) {
    auto src = ModelSource::open(o.rt.model_path, o.rt.tokenizer_path);
    if (!src) return fail("load_error", src.message());
    tok_path = src.value()->tokenizer_path();
  }
  auto tok = load_tokenizer(tok_path);
  if (!tok) return fail("load_error", tok.message());
  const Tokenizer& T = *tok.value();
  std::vector<int32_t> prompt = T.encode(o.prompt, o.add_bos && T.add_bos_default(), false);
  if (prompt.empty()) return fail("error", "the prompt is empty (and the tokenizer adds no BOS)");

  // Every rank loads with the config rank 0 resolved.
  LoadMsg lm{o.rt.model_path, o.rt.to_json()};
  channel_send(MsgKind::LOAD, encode_load(lm), o.rt.eval_timeout_s);
  auto loaded = load_rank_model(o.rt);
  if (!loaded) {
    const bool guard = loaded.message().find("MemoryGuardError") != std::string::npos;
    return fail(guard ? "memory_guard" : "load_error", "load failed: " + loaded.message());
  }
  RankModel& M = *loaded.value();
  StepExecutor X(M);
  const int n_ctx = M.n_ctx();
  const int64_t total = static_cast<int64_t>(prompt.size()) + o.n_predict;
  if (total > n_ctx)
    return fail("error", fmt::format("prompt ({} tokens) plus -n {} exceeds the context of {} tokens (--ctx-size)",
                                     prompt.size(), o.n_predict, n_ctx));

  BlockPool pool(M.kv_blocks());
  const int bs = M.config().block_size;
  const double tmo = o.rt.collective_timeout_s;
  const uint64_t seq_id = 1;
  std::vector<int32_t> blocks;
  auto grow = [&](int64_t n_tokens) -> bool {
    int need = blocks_for(n_tokens, bs) - static_cast<int>(blocks.size());
    if (need <= 0) return true;
    auto b = pool.allocate(need);
    if (!b) return false;
    blocks.insert(blocks.end(), b->begin(), b->end());
    return true;
  };

  StreamDecoder stream(T);
  if (o.echo) {
    for (auto id : prompt) {
      std::string s = stream.push(id);
      std::fwrite(s.data(), 1, s.size(), stdout);
    }
    std::fflush(stdout);
  }

  StepRows out;
  double coll_s = 0;
  int steps = 0;
  // Prefill in chunks of max_batch_tokens; the last chunk samples the first token.
  auto t_prefill = Clock::now();
  int64_t done = 0;
  int32_t next = -1;
  bool first = true;
  while (done < static_cast<int64_t>(prompt.size())) {
    int64_t n = std::min<int64_t>(o.max_batch_tokens, static_cast<int64_t>(prompt.size()) - done);
    std::vector<int32_t> chunk(prompt.begin() + done, prompt.begin() + done + n);
    size_t old_blocks = blocks.size();
    if (!grow(done + n)) return fail("error", "KV cache full");
    const bool last = done + n == static_cast<int64_t>(prompt.size());
    StepMsg step;
    step.step_id = steps;
    if (first) {
      NewSeq ns;
      ns.seq_id = seq_id;
      ns.n_prompt = static_cast<uint32_t>(prompt.size());
      ns.tokens = chunk;
      ns.block_table = blocks;
      ns.sampling = o.sampling;
      step.new_seqs.push_back(std::move(ns));
      first = false;
    } else {
      step.running.push_back({seq_id, chunk, std::vector<int32_t>(blocks.begin() + old_blocks, blocks.end())});
    }
    if (last && o.n_predict > 0) step.rows.push_back({seq_id, static_cast<uint32_t>(done + n - 1)});
    Status st = run_step_rank0(X, step, tmo, out);
    if (!st) return fail("error", st.message());
    coll_s += M.last_collective_seconds();
    ++steps;
    done += n;
    if (!out.rows.empty()) next = merge_and_sample(out.cands[0], o.sampling, 0, static_cast<uint64_t>(done));
  }
  const double prefill_s = since(t_prefill);

  // Decode: one token per step.
  auto t_decode = Clock::now();
  int generated = 0;
  int64_t n_computed = done;
  const auto eos = T.eos_ids();
  std::string finish = "length";
  while (generated < o.n_predict) {
    if (!o.ignore_eos && std::find(eos.begin(), eos.end(), next) != eos.end()) {
      finish = "eos";
      break;
    }
    ++generated;
    std::string s = stream.push(next);
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
    if (generated == o.n_predict) break;
    size_t old_blocks = blocks.size();
    if (!grow(n_computed + 1)) return fail("error", "KV cache full");
    StepMsg step;
    step.step_id = steps;
    step.running.push_back({seq_id, {next}, std::vector<int32_t>(blocks.begin() + old_blocks, blocks.end())});
    step.rows.push_back({seq_id, static_cast<uint32_t>(n_computed)});
    Status st = run_step_rank0(X, step, tmo, out);
    if (!st) return fail("error", st.message());
    coll_s += M.last_collective_seconds();
    ++steps;
    ++n_computed;
    next = merge_and_sample(out.cands[0], o.sampling, 0, static_cast<uint64_t>(n_computed));
  }
  std::string tail = stream.flush();
  std::fwrite(tail.data(), 1, tail.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  const double decode_s = since(t_decode);

  // Free the sequence everywhere, then collect every rank's resident memory.
  StepMsg fin;
  fin.step_id = steps;
  fin.finished.push_back(seq_id);
  (void)run_step_rank0(X, fin, tmo, out);
  pool.release(blocks);
  channel_send(MsgKind::SHUTDOWN, {}, tmo);
  std::vector<double> rss = shutdown_gather_rss(tmo);
  std::string rss_s;
  for (size_t r = 0; r < rss.size(); ++r) rss_s += fmt::format("{}{:.1f}", r ? "," : "", rss[r] / 1048576.0);
  const int decoded = std::max(0, generated - 1);
  LOG_INFO(
      "figures: prompt_tokens={} prefill_s={:.3f} prefill_tok_s={:.2f} generated_tokens={} decode_s={:.3f} "
      "decode_tok_s={:.2f} load_s={:.2f} rss_mb_per_rank=[{}] ranks={} collective_s_per_step={:.5f} finish={}",
      prompt.size(), prefill_s, prompt.size() / std::max(prefill_s, 1e-9), generated, decode_s,
      decoded / std::max(decode_s, 1e-9), M.load_seconds(), rss_s, Comm::size(),
      coll_s / std::max(steps, 1), finish);
  audit_count_request();
  exit_audit("generate_done");
  return 0;
}

}  // namespace shardlm
