// What one rank holds of a loaded model: its weight slice, its KV storage, its compute
// pool, its all-reduce and the Forward over them. Steps are executed by a StepExecutor
// (cluster/step-executor.h) over a RankModel. Owned by the engine thread (rank 0) or the
// worker loop; created by load_rank_model() on every rank in lockstep (each agreement
// point is a collective with a deadline).
#pragma once
#include <memory>

#include "shardlm/core/thread-pool.h"
#include "shardlm/cluster/runtime-config.h"
#include "shardlm/cluster/step-deadline.h"
#include "shardlm/kv/kv-disk-store.h"
#include "shardlm/kv/kv-storage.h"
#include "shardlm/model/forward.h"
#include "shardlm/model/model-source.h"
#include "shardlm/model/weights.h"

namespace shardlm {

class RankModel {
 public:
  ~RankModel();
  const HParams& hparams() const { return weights_->hp; }
  const ShardPlan& plan() const { return weights_->plan; }
  const RuntimeConfig& config() const { return cfg_; }
  int n_ctx() const { return n_ctx_; }
  int kv_blocks() const { return kv_->config().n_blocks; }
  int block_size() const { return kv_->config().block_size; }
  uint64_t weight_bytes() const { return weights_->bytes(); }
  const ModelWeights& weights() const { return *weights_; }
  uint64_t kv_bytes() const { return kv_->bytes(); }
  // KV bytes of one token position on this rank (all layers, K and V, scales included).
  uint64_t kv_bytes_per_token() const { return KvStorage::bytes_per_token(kv_->config()); }
  size_t kv_block_bytes() const { return kv_->block_bytes_all_layers(); }  // one block, every layer, K and V
  // Weight bytes read per generated token: everything but the embedding table (one row).
  uint64_t bytes_per_token() const { return weights_->bytes() - weights_->tok_embd.bytes(); }
  double load_seconds() const { return load_s_; }
  // The forward over this rank's slice (its KV storage, pool and all-reduce).
  Forward& forward() { return *fwd_; }
  // This rank's KV storage, and its disk tier (null unless RuntimeConfig::kv_tier is cpu_disk).
  KvStorage& kv() { return *kv_; }
  KvDiskStore* disk() { return disk_.get(); }
  const KvDiskStore* disk() const { return disk_.get(); }
  double last_collective_seconds() const { return fwd_->last_collective_seconds(); }
  // The deadline of a step's collectives (cluster/step-deadline.h): begin_step sets it
  // for the step's all-reduces and returns it (for the step's other collectives);
  // end_step records how long the step took.
  double begin_step(const StepMsg& m);
  void end_step(double step_s, const StepMsg& m) { deadline_->observe(step_s, step_tokens(m)); }
  const StepDeadline& deadline() const { return *deadline_; }

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
  std::unique_ptr<StepDeadline> deadline_;
  std::unique_ptr<Forward> fwd_;
  std::unique_ptr<KvDiskStore> disk_;
};

// A content fingerprint of the model at path (sizes and the first and last MiB of each
// weight file, plus the weight dtype it is loaded as): the disk tier's directory key, the
// same on every rank that reads the same model.
uint64_t model_fingerprint(const std::string& path, const std::string& weight_dtype);

// Collective: every rank calls it with the same config. Loads this rank's slice
// with the memory guard and the per-layer eval timeout; all ranks agree on success.
Result<std::unique_ptr<RankModel>> load_rank_model(const RuntimeConfig& cfg);

}  // namespace shardlm
