// What one rank holds of a loaded model: its weight slice, its KV pool, its
// compute pool and the step executor that applies step diffs and runs the forward.
// Owned by the engine thread (rank 0) or the worker loop; created by load_rank_model()
// on every rank in lockstep (each agreement point is a collective with a deadline).
#pragma once
#include <map>
#include <memory>
#include <vector>

#include "shardlm/core/thread-pool.h"
#include "shardlm/dist/runtime-config.h"
#include "shardlm/protocol/wire.h"
#include "shardlm/kv/kv-storage.h"
#include "shardlm/model/forward.h"
#include "shardlm/model/model-source.h"
#include "shardlm/model/weights.h"
#include "shardlm/sampling/penalties.h"

namespace shardlm {

// Per-sequence state every rank keeps between steps.
struct RankSeq {
  std::vector<int32_t> block_table;
  int32_t n_computed = 0;
  int32_t n_prompt = 0;     // positions >= n_prompt are generated tokens
  int n_top = 0;            // top alternatives kept for logprobs
  SamplingParams sampling;
  bool penalties = false;   // counts are kept only when a penalty is active
  TokenCounts counts;       // tokens seen so far (prompt vs generated), for the penalties
};

class RankModel {
 public:
  ~RankModel();
  const HParams& hparams() const { return weights_->hp; }
  const ShardPlan& plan() const { return weights_->plan; }
  const RuntimeConfig& config() const { return cfg_; }
  int n_ctx() const { return n_ctx_; }
  int kv_blocks() const { return kv_->config().n_blocks; }
  uint64_t weight_bytes() const { return weights_->bytes(); }
  uint64_t kv_bytes() const { return kv_->bytes(); }
  // Weight bytes read per generated token: everything but the embedding table (one row).
  uint64_t bytes_per_token() const { return weights_->bytes() - weights_->tok_embd.bytes(); }
  double load_seconds() const { return load_s_; }

  // Applies the diff, runs the forward, and reduces each sampled row's vocab slice
  // to candidates: `cand` receives one fixed-size record per sampled sequence, in
  // message order (new sequences first, then running ones). Errors (a message that
  // contradicts this rank's state) are returned, never thrown.
  Status execute(const StepMsg& m, std::vector<uint8_t>& cand, std::vector<uint64_t>& sampled_ids);
  size_t candidate_record_bytes() const;
  double last_collective_seconds() const { return fwd_->last_collective_seconds(); }
  size_t n_seqs() const { return seqs_.size(); }

 private:
  friend Result<std::unique_ptr<RankModel>> load_rank_model(const RuntimeConfig& cfg);
  RankModel() = default;
  RuntimeConfig cfg_;
  int n_ctx_ = 0;
  double load_s_ = 0;
  std::unique_ptr<ModelSource> src_;
  std::unique_ptr<ModelWeights> weights_;
  std::unique_ptr<KvStorage> kv_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<AllReduce> ar_;
  std::unique_ptr<Forward> fwd_;
  std::map<uint64_t, RankSeq> seqs_;
  std::vector<float> logits_;  // f32 [sampled rows, n_vocab_local]
  bool dumped_ = false;
};

// Collective: every rank calls it with the same config. Loads this rank's slice
// with the memory guard and the per-layer eval timeout; all ranks agree on success.
Result<std::unique_ptr<RankModel>> load_rank_model(const RuntimeConfig& cfg);

}  // namespace shardlm
