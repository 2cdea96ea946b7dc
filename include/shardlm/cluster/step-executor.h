// The step executor of one rank: it keeps the per-sequence state every rank mirrors
// between steps, applies each STEP diff (protocol/step-msg.h) to it, builds the
// ForwardBatch, runs the forward on the rank's slice (cluster/rank-model.h) and reduces the
// logits of every row of the step's logit-row table to one row record. Owned by the
// engine thread (rank 0) or the worker loop, like the RankModel it runs on (which must
// outlive it). Errors (a message that contradicts this rank's state) are values.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/protocol/step-msg.h"
#include "shardlm/sampling/penalties.h"

namespace shardlm {

class RankModel;
struct ForwardBatch;

// Per-sequence state every rank keeps between steps.
struct RankSeq {
  std::vector<int32_t> block_table;  // KV block ids, in position order
  int32_t n_computed = 0;            // positions whose KV is in the cache
  int32_t last_step_tokens = 0;      // tokens the latest step computed (the most a next step may take back)
  int32_t n_prompt = 0;              // positions >= n_prompt are generated tokens
  int n_top = 0;                     // top alternatives kept for logprobs
  bool logprobs = false;             // every row's lse is computed (NewSeq::logprobs)
  SamplingParams sampling;
  bool penalties = false;            // counts are kept only when a penalty is active
  TokenCounts counts;                // tokens at positions < n_computed (prompt vs generated)
  std::vector<int32_t> last_tokens;  // penalties: the latest step's tokens (what a next step may take back)
};

class StepExecutor {
 public:
  explicit StepExecutor(RankModel& model);
  ~StepExecutor();

  // Applies the diff, runs the forward and appends to `records` one row record
  // (protocol/wire.h, row_record_bytes(K)) per row of msg.rows, in table order; records
  // is cleared first. Row r's candidates use the RNG counter rows[r].pos + 1 and the
  // penalty counts of the positions <= rows[r].pos.
  Status execute(const StepMsg& msg, std::vector<uint8_t>& records);
  size_t record_bytes() const;  // bytes of one row record on this rank
  int candidates_k() const;     // K of the row records (RuntimeConfig::sample_candidates)
  size_t n_seqs() const { return seqs_.size(); }
  // The last step's restore ops, in op order: true where every rank restored the block
  // (the result of the step's restore allreduce, the same on every rank).
  const std::vector<bool>& restore_ok() const { return restore_ok_; }
  RankModel& model() { return model_; }

 private:
  // A sequence that computes tokens in the current step.
  struct StepSeq {
    uint64_t id = 0;
    RankSeq* seq = nullptr;
    const std::vector<int32_t>* tokens = nullptr;  // this step's token ids
    int32_t first_pos = 0;                         // position of tokens[0]
    int32_t batch_off = 0;                         // index of tokens[0] in the ForwardBatch
    bool early_row = false;                        // a row before its last token (penalties need a copy)
    std::optional<TokenCounts> counts_before;      // the counts before this step (early rows with penalties)
  };
  // The step's KV ops on this rank's storage and disk tier, then the restore allreduce.
  Status apply_kv_ops(const StepMsg& msg);
  Status apply_diff(const StepMsg& msg);
  Status check_rows(const StepMsg& msg);
  Status build_batch(const StepMsg& msg, ForwardBatch& b);
  void reduce_rows(const StepMsg& msg, std::vector<uint8_t>& records);
  void dump_logits_once();

  RankModel& model_;
  std::map<uint64_t, RankSeq> seqs_;
  std::vector<StepSeq> step_;          // the current step's sequences, in batch order
  std::vector<size_t> row_seq_;        // [rows] index into step_ of each row's sequence
  std::vector<const uint64_t*> row_mask_;  // [rows] the row's allowed-token mask in the message, or null
  std::vector<float> logits_;          // f32 [rows, n_vocab_local], this rank's vocab slice
  std::string dump_logits_prefix_;     // RuntimeConfig::dump_logits_prefix: first row's logits, once
  bool dumped_ = false;
  std::vector<bool> restore_ok_;
  std::vector<uint8_t> block_buf_;     // one block's bytes, every layer (restores)
};

}  // namespace shardlm
