// The model as rank 0's engine holds it: this rank's slice (RankModel), the scheduler
// that plans steps over it, and the tokenizer. Loading, unloading and prewarm run in
// lockstep with the other ranks (LOAD / UNLOAD / STEP messages). Engine thread only;
// the engine decides when (lazy load, idle unload, admin) and publishes the state.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/engine/engine-options.h"
#include "shardlm/engine/kv-tier-stats.h"
#include "shardlm/sampling/candidates.h"
#include "shardlm/sched/scheduler.h"
#include "shardlm/tokenizer/tokenizer.h"

namespace shardlm {

class RankModel;
class StepExecutor;

// The logits of one row of a step's logit-row table, reduced by every rank.
struct SampledRow {
  LogitRow row;                        // the sequence (its id on the ranks) and the position
  std::vector<Candidates> cands;       // [ranks] each rank's candidates of its vocabulary slice
};

class ModelHost {
 public:
  explicit ModelHost(const EngineOptions& o);
  ~ModelHost();

  // The tokenizer of rt's model (rank 0 only; cached per model path).
  Result<std::shared_ptr<const Tokenizer>> tokenizer_for(const RuntimeConfig& rt);
  // Pre-flight on rank 0 only, with no rank touched and nothing unloaded: the model at
  // path opens (type checked before any open, header parsed, every tensor present with
  // its shape) and its tokenizer loads. The tokenizer is kept for the load() that follows.
  Status check(const std::string& path);
  // Tokenizer first (a bad one fails before any rank loads), then LOAD on every rank,
  // then the scheduler over the loaded KV pool. On failure nothing stays loaded.
  Status load(const std::string& path);
  // Frees every sequence on the ranks, then UNLOAD. The tokenizer stays cached.
  void unload();
  bool loaded() const { return model_ != nullptr; }
  // Forgets the model on this rank only (at shutdown, when SHUTDOWN follows).
  void drop();

  // Runs one planned step on every rank and commits it to the scheduler; returns the
  // rows of the plan's logit-row table, in table order, checked against what every
  // rank computed (protocol/wire.h decode_step_rows). A failed step is fatal (the ranks no longer agree).
  std::vector<SampledRow> run(const StepPlan& p);
  // Plans and runs whatever is left to free (finished ids) until the ranks hold nothing.
  void flush_finished();
  // One short greedy sequence through the whole path (plan, broadcast, forward, sampling).
  void prewarm();
  // Rank 0's disk store events into the scheduler's disk index (after each step, at load).
  void sync_disk();

  Scheduler& sched() { return *sched_; }
  const Scheduler& sched() const { return *sched_; }
  const RankModel& model() const { return *model_; }
  const std::shared_ptr<const Tokenizer>& tokenizer() const { return tok_; }
  const std::vector<int32_t>& eos_ids() const { return eos_; }
  const RuntimeConfig& runtime() const { return rt_; }
  // min(n_ctx, KV capacity in tokens): the longest prompt + max_tokens taken.
  int max_context() const;
  double load_seconds() const;
  KvTierStats kv_tier_stats() const;

  uint64_t steps() const { return steps_; }                 // steps run since start
  double collective_seconds() const { return coll_s_; }     // rank 0's time in collectives, all steps
  double last_collective_seconds() const;
  // The collective deadline of a one-token step now, and how it is derived (cluster/step-deadline.h).
  double collective_timeout_s() const;
  std::string collective_deadline_rule() const;

 private:
  EngineOptions opts_;
  RuntimeConfig rt_;  // as resolved by the last load
  std::unique_ptr<RankModel> model_;
  std::unique_ptr<StepExecutor> exec_;  // runs steps on model_ (declared after it: destroyed first)
  std::unique_ptr<Scheduler> sched_;
  std::shared_ptr<const Tokenizer> tok_;
  std::string tok_path_model_;  // the model path tok_ belongs to
  std::shared_ptr<const Tokenizer> checked_tok_;  // from check(), for a load() of checked_path_
  std::string checked_path_;
  std::vector<int32_t> eos_;
  uint64_t steps_ = 0;
  double coll_s_ = 0;
};

}  // namespace shardlm
