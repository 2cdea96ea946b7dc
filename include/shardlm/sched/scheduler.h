// Continuous batching at iteration level (ARCHITECTURE §6). Owned by the engine thread;
// no model, no MPI: it turns sequences into step plans (protocol/step-msg.h) and is told what
// was sampled. Each step spends a token budget closing each sequence's gap between
// tokens computed and tokens known; chunked prefill and prefix hits fall out of that.
//
// Per step (schedule()):
//   1. running sequences, those with a gap of 1 (decoding) first, then the others in
//      admission order, take min(gap, budget left) tokens. When KV blocks run out, the
//      newest running sequence is preempted (blocks freed, recomputed later from the
//      front of the waiting queue).
//   2. waiting sequences are admitted in order while max_num_seqs, the budget and the
//      blocks allow; full blocks of their known tokens found in the prefix cache are
//      shared (always leaving at least one token to compute, so there are logits).
// After the forward (commit()), newly full blocks are registered in the prefix cache.
// Blocks, tables and the prefix cache are the KV manager's (kv/kv-manager.h): the
// scheduler asks it for plans and applies them; tables are keyed by wire id.
#pragma once
#include <deque>
#include <memory>
#include <vector>

#include "shardlm/kv/kv-manager.h"
#include "shardlm/sched/sequence.h"
#include "shardlm/protocol/step-msg.h"

namespace shardlm {

// The scheduling policy a user sets (serve's flags); each default is written here once.
struct SchedulerOptions {
  int max_num_seqs = 16;        // --max-num-seqs: sequences holding KV at once (also sizes the KV pool)
  int max_batch_tokens = 512;   // --max-batch-tokens: tokens per step (the token budget; the prefill chunk)
  int max_queue = 256;          // --max-queue: waiting sequences; add() refuses past it (HTTP 429)
  bool prefix_cache = true;     // --no-prefix-cache: share full blocks of identical prefixes
};

// The policy plus what the loaded model decides.
struct SchedulerConfig : SchedulerOptions {
  int n_blocks = 0;             // KV blocks per rank (required: from the loaded KV pool)
  int block_size = 0;           // tokens per block (required: RuntimeConfig::block_size)
  int n_ctx = 0;                // positions per sequence (required: the model's context)
  uint64_t cache_seed = 0;      // chains the block hashes (a new model may get a new seed)
};

// One scheduled sequence in a step, in the order of the step message (new, then running).
struct ScheduledSeq {
  Sequence* seq = nullptr;
  int n_tokens = 0;   // tokens computed in this step, draft tokens included
  bool sample = false;  // the step's logit-row table has a row at this sequence's last known token
  // Speculative tokens computed after the last known token (a copy of Sequence::draft,
  // maybe shortened by the budget); each has a row. commit() keeps the KV of the leading
  // ones the engine has since appended to the sequence's tokens, and no more.
  std::vector<int32_t> draft;
};

struct StepPlan {
  StepMsg msg;
  std::vector<ScheduledSeq> seqs;
  int n_tokens = 0;
  // Parked cached blocks this step's allocations evicted, in order. Rank 0 only, not on
  // the wire (dropping KV from memory needs nothing from the ranks); a disk tier will
  // turn each into an OFFLOAD op.
  std::vector<Eviction> evictions;
  bool empty() const { return msg.new_seqs.empty() && msg.running.empty() && msg.finished.empty(); }
};

struct SchedulerStats {
  uint64_t prefix_queries_tokens = 0;  // prompt tokens looked up in the prefix cache
  uint64_t prefix_hit_tokens = 0;      // of which found
  uint64_t preemptions = 0;
};

class Scheduler {
 public:
  explicit Scheduler(const SchedulerConfig& cfg);
  const SchedulerConfig& config() const { return cfg_; }

  // Queues a sequence (state waiting, tokens = prompt). false: the queue is full.
  bool add(std::shared_ptr<Sequence> s);
  // Plans the next step. Sequences whose state became finished since the last step are
  // dropped and their wire ids appear in msg.finished.
  StepPlan schedule();
  // The step ran on every rank: advance n_computed, register full blocks.
  void commit(const StepPlan& p);
  // After the engine verified a step's draft tokens (appending the accepted ones and one
  // more to each sequence's tokens): keeps the KV of the accepted ones. Rejected draft
  // positions are forgotten; the next RunningSeq's start_pos tells the ranks.
  void accept_drafts(const StepPlan& p);
  // Ends a sequence (any state): frees its blocks; the ranks free it with the next step.
  void finish(Sequence& s, FinishReason why);

  int n_waiting() const { return static_cast<int>(waiting_.size()); }
  int n_running() const { return static_cast<int>(running_.size()); }
  bool idle() const { return waiting_.empty() && running_.empty() && pending_finished_.empty(); }
  const KvManager& kv() const { return kv_; }
  const SchedulerStats& stats() const { return stats_; }
  // Every live sequence (running, then waiting), e.g. to check deadlines.
  std::vector<std::shared_ptr<Sequence>> live() const;

 private:
  // Blocks for a running sequence to hold n_tokens; false (nothing changes) if too few.
  bool grow(Sequence& s, int n_tokens, StepPlan& p);
  void apply_alloc(const AllocPlan& a, StepPlan& p);
  void preempt(Sequence& s);
  bool admit(Sequence& s, int budget, StepPlan& p);
  void emit(Sequence& s, int n, std::vector<int32_t> draft, StepPlan& p);
  void release_blocks(Sequence& s);

  SchedulerConfig cfg_;
  KvManager kv_;
  std::deque<std::shared_ptr<Sequence>> waiting_;
  std::vector<std::shared_ptr<Sequence>> running_;  // admission order
  std::vector<uint64_t> pending_finished_;          // wire ids the ranks must free
  uint64_t next_wire_id_ = 1;
  uint64_t step_id_ = 0;
  SchedulerStats stats_;
};

}  // namespace shardlm
