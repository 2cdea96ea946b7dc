#include "shardlm/dist/rank-model.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "shardlm/core/log.h"
#include "shardlm/core/memory.h"
#include "shardlm/dist/comm.h"
#include "shardlm/kernels/quant.h"
#include "shardlm/kv/block-pool.h"
#include "shardlm/sampling/candidates.h"

namespace shardlm {

namespace {

class MpiAllReduce : public AllReduce {
 public:
  explicit MpiAllReduce(double timeout_s) : timeout_s_(timeout_s) {}
  void sum(float* data, int64_t n) override { Comm::allreduce_sum(data, n, timeout_s_, "allreduce"); }

 private:
  double timeout_s_;
};

// All ranks agree whether a phase succeeded; the deadline is the eval timeout.
Status agree(const Status& local, double timeout_s, const std::string& phase) {
  const std::string what = "eval_with_timeout|" + phase;
  int all = Comm::allreduce_min(local.is_ok() ? 1 : 0, timeout_s, what.c_str(), "eval_timeout");
  if (!local.is_ok()) return local;
  if (!all) return Status::errorf("another rank failed during {} (see its log)", phase);
  return Status::ok();
}

int default_threads() {
  unsigned hc = std::thread::hardware_concurrency();
  // Ranks sharing a node split its cores.
  return std::max(1, static_cast<int>(hc) / std::max(1, Comm::local_size()));
}

}  // namespace

RankModel::~RankModel() = default;

size_t RankModel::candidate_record_bytes() const { return Candidates::record_bytes(cfg_.sample_candidates); }

Result<std::unique_ptr<RankModel>> load_rank_model(const RuntimeConfig& cfg) {
  const auto t0 = std::chrono::steady_clock::now();
  const int rank = Comm::rank(), world = Comm::size();
  std::unique_ptr<RankModel> m(new RankModel());
  m->cfg_ = cfg;

  auto src = ModelSource::open(cfg.model_path, cfg.tokenizer_path);
  SHARDLM_TRY(agree(src.status(), cfg.eval_timeout_s, "open model"));
  m->src_ = std::move(src.value());
  const HParams& h = m->src_->hparams();
  if (rank == 0) LOG_INFO("model {} ({}): {}", cfg.model_path, m->src_->format(), h.summary());

  std::optional<DType> weight_dtype;
  if (!cfg.weight_dtype.empty()) {
    weight_dtype = dtype_from_name(cfg.weight_dtype);
    if (!weight_dtype || !can_quantize(*weight_dtype))
      return Status::errorf("--weight-dtype '{}' is not a type this build can quantize to", cfg.weight_dtype);
  }
  auto plan = make_shard_plan(h, rank, world, ff_split_unit(*m->src_, weight_dtype));
  SHARDLM_TRY(agree(plan.status(), cfg.eval_timeout_s, "shard plan"));
  LOG_INFO("shard plan {}", plan->describe());

  const double guard = cfg.memory_guard_gb * 1073741824.0;
  bool agreed_failure = false;  // a hook's agreement already told every rank
  LoadHooks hooks;
  // what: "layer 3" or "KV cache"; need: bytes about to be allocated.
  auto memory_check = [&](const std::string& what, uint64_t need) -> Status {
    Status st;
    const uint64_t avail = available_bytes();
    if (guard > 0 && static_cast<double>(avail) - static_cast<double>(need) < guard) {
      st = Status::errorf(
          "MemoryGuardError: rank {} {}: available {:.2f} GiB, needed {:.3f} GiB, guard {:.2f} GiB "
          "(SHARDLM_MEMORY_GUARD_GB)",
          rank, what, avail / 1073741824.0, need / 1073741824.0, cfg.memory_guard_gb);
      LOG_ERROR("{}", st.message());
    }
    Status a = agree(st, cfg.eval_timeout_s, fmt::format("memory check before {}", what));
    agreed_failure = !a.is_ok();
    return a;
  };
  hooks.before_layer = [&](int layer, uint64_t need) -> Status { return memory_check(fmt::format("layer {}", layer), need); };
  hooks.after_layer = [&](int layer) -> Status {
    if (cfg.load_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(cfg.load_delay_ms));
    if (layer >= 0 && (rank == 0 || h.n_layer <= 64))
      LOG_INFO("loaded layer {}/{} (rss {:.1f} MiB)", layer + 1, h.n_layer, rss_bytes() / 1048576.0);
    Status a = agree(Status::ok(), cfg.eval_timeout_s, fmt::format("layer {}", layer));
    agreed_failure = !a.is_ok();
    return a;
  };
  LoadOptions lopt;
  lopt.weight_dtype = weight_dtype;
  lopt.pack_panels = cfg.pack_weights;
  auto w = load_weights(*m->src_, plan.value(), hooks, lopt);
  if (!w) {
    // A rank that failed on its own still meets the others at the agreement they
    // wait in (the same collective: every rank passed the same hooks so far).
    if (!agreed_failure) (void)agree(w.status(), cfg.eval_timeout_s, "load");
    return w.status();
  }
  m->weights_ = std::move(w.value());

  m->n_ctx_ = RuntimeConfig::resolve_n_ctx(cfg.n_ctx, h.n_ctx_train);
  KvConfig kc;
  kc.n_layer = h.n_layer;
  kc.block_size = cfg.block_size;
  kc.n_blocks = cfg.kv_blocks > 0 ? cfg.kv_blocks : blocks_for(m->n_ctx_, cfg.block_size) * cfg.max_seqs;
  kc.n_kv_local = static_cast<int>(plan->kv_heads.size());
  kc.head_dim = h.head_dim;
  kc.dtype = cfg.kv_cache_dtype == "f32" ? DType::F32 : cfg.kv_cache_dtype == "bf16" ? DType::BF16 : DType::F16;
  // K and V: 2 × layers × blocks × block size × local KV heads × head dim × element bytes.
  const uint64_t kv_need =
      2ull * kc.n_layer * kc.n_blocks * kc.block_size * kc.n_kv_local * kc.head_dim * kv_elem_bytes(kc.dtype);
  SHARDLM_TRY(memory_check("KV cache", kv_need));
  m->kv_ = std::make_unique<KvStorage>(kc);
  const int threads = cfg.threads > 0 ? cfg.threads : default_threads();
  m->pool_ = std::make_unique<ThreadPool>(threads);
  if (world > 1)
    m->ar_ = std::make_unique<MpiAllReduce>(cfg.collective_timeout_s);
  else
    m->ar_ = std::make_unique<NoAllReduce>();
  m->fwd_ = std::make_unique<Forward>(*m->weights_, *m->kv_, *m->pool_, *m->ar_);
  m->load_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  LOG_INFO("loaded in {:.2f} s: weights {:.1f} MiB, KV {} blocks ({:.1f} MiB, {}), {} threads, rss {:.1f} MiB", m->load_s_,
           m->weights_->bytes() / 1048576.0, kc.n_blocks, m->kv_->bytes() / 1048576.0, cfg.kv_cache_dtype, threads,
           rss_bytes() / 1048576.0);
  m->src_.reset();  // weights are copied out; drop the mapping
  return m;
}

Status RankModel::execute(const StepMsg& msg, std::vector<uint8_t>& cand, std::vector<uint64_t>& sampled_ids) {
  const int bs = kv_->config().block_size;
  const int n_blocks = kv_->config().n_blocks;
  ForwardBatch b;
  std::vector<const RankSeq*> sampled;
  auto check_blocks = [&](const std::vector<int32_t>& ids) -> Status {
    for (auto id : ids)
      if (id < 0 || id >= n_blocks) return Status::errorf("step {}: block id {} out of range", msg.step_id, id);
    return Status::ok();
  };
  auto add_tokens = [&](RankSeq& s, const std::vector<int32_t>& toks, bool sample, uint64_t id) -> Status {
    if (s.n_computed + static_cast<int64_t>(toks.size()) > static_cast<int64_t>(s.block_table.size()) * bs)
      return Status::errorf("step {}: sequence {} needs more KV blocks than it was given", msg.step_id, id);
    for (size_t i = 0; i < toks.size(); ++i) {
      if (toks[i] < 0 || toks[i] >= weights_->hp.n_vocab)
        return Status::errorf("step {}: token id {} out of range", msg.step_id, toks[i]);
      b.tokens.push_back(toks[i]);
      const int32_t pos = s.n_computed + static_cast<int32_t>(i);
      b.pos.push_back(pos);
      if (s.penalties) {
        if (pos < s.n_prompt) s.counts.add_prompt(toks[i]);
        else s.counts.add(toks[i]);
      }
      b.block_table.push_back(s.block_table.data());
    }
    s.n_computed += static_cast<int32_t>(toks.size());
    if (sample) {
      if (toks.empty()) return Status::errorf("step {}: sequence {} samples with no tokens", msg.step_id, id);
      b.logit_rows.push_back(static_cast<int32_t>(b.tokens.size() - 1));
      sampled.push_back(&s);
      sampled_ids.push_back(id);
    }
    return Status::ok();
  };
  sampled_ids.clear();
  for (const auto& ns : msg.new_seqs) {
    if (seqs_.count(ns.seq_id)) return Status::errorf("step {}: sequence {} already exists", msg.step_id, ns.seq_id);
    SHARDLM_TRY(check_blocks(ns.block_table));
    RankSeq& s = seqs_[ns.seq_id];
    s.block_table = ns.block_table;
    s.n_computed = static_cast<int32_t>(ns.start_pos);
    s.n_prompt = static_cast<int32_t>(ns.n_prompt);
    s.n_top = ns.n_top;
    s.sampling = ns.sampling;
    s.penalties = penalties_active(ns.sampling);
    if (s.penalties) {
      if (ns.history.size() != ns.start_pos)
        return Status::errorf("step {}: sequence {} uses penalties but sent {} history tokens for start {}", msg.step_id,
                              ns.seq_id, ns.history.size(), ns.start_pos);
      for (size_t i = 0; i < ns.history.size(); ++i) {
        if (static_cast<int32_t>(i) < s.n_prompt) s.counts.add_prompt(ns.history[i]);
        else s.counts.add(ns.history[i]);
      }
    }
  }
  // Block tables must not reallocate once pointers into them are taken: extend first.
  for (const auto& rs : msg.running) {
    auto it = seqs_.find(rs.seq_id);
    if (it == seqs_.end()) return Status::errorf("step {}: unknown sequence {}", msg.step_id, rs.seq_id);
    SHARDLM_TRY(check_blocks(rs.new_blocks));
    it->second.block_table.insert(it->second.block_table.end(), rs.new_blocks.begin(), rs.new_blocks.end());
  }
  for (const auto& ns : msg.new_seqs) SHARDLM_TRY(add_tokens(seqs_[ns.seq_id], ns.tokens, ns.sample, ns.seq_id));
  for (const auto& rs : msg.running) SHARDLM_TRY(add_tokens(seqs_[rs.seq_id], rs.tokens, rs.sample, rs.seq_id));
  for (size_t i = 0; i < b.pos.size(); ++i)
    if (b.pos[i] >= n_ctx_) return Status::errorf("step {}: position {} beyond the context of {}", msg.step_id, b.pos[i], n_ctx_);

  cand.clear();
  if (b.size() > 0) {
    fwd_->run(b, logits_);
    const ShardPlan& p = weights_->plan;
    const int64_t nv = p.vocab.size();
    if (!cfg_.dump_logits_prefix.empty() && !sampled.empty() && !dumped_) {
      dumped_ = true;
      std::string path = fmt::format("{}.rank{}.bin", cfg_.dump_logits_prefix, Comm::rank());
      if (FILE* f = std::fopen(path.c_str(), "wb")) {
        int32_t hdr[2] = {static_cast<int32_t>(p.vocab.begin), static_cast<int32_t>(nv)};
        std::fwrite(hdr, sizeof hdr, 1, f);
        std::fwrite(logits_.data(), sizeof(float), nv, f);
        std::fclose(f);
      }
    }
    const size_t rec = candidate_record_bytes();
    cand.resize(rec * sampled.size());
    for (size_t r = 0; r < sampled.size(); ++r) {
      const RankSeq& s = *sampled[r];
      float* row = logits_.data() + r * nv;
      if (s.penalties) apply_penalties(row, static_cast<int32_t>(p.vocab.begin), static_cast<int32_t>(nv), s.counts, s.sampling);
      Candidates c = reduce_slice(row, static_cast<int32_t>(p.vocab.begin), static_cast<int32_t>(nv), s.sampling, 0,
                                  static_cast<uint64_t>(s.n_computed), cfg_.sample_candidates, s.n_top);
      std::vector<uint8_t> bytes;
      c.serialize(bytes, cfg_.sample_candidates);
      std::memcpy(cand.data() + r * rec, bytes.data(), std::min(rec, bytes.size()));
    }
  }
  for (auto id : msg.finished) seqs_.erase(id);
  return Status::ok();
}

}  // namespace shardlm
