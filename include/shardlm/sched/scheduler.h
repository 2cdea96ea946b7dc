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
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shardlm/kv/kv-manager.h"
#include "shardlm/sched/sequence.h"
#include "shardlm/sched/sessions.h"
#include "shardlm/protocol/step-msg.h"

namespace shardlm {

// The scheduling policy a user sets (serve's flags); each default is written here once.
struct SchedulerOptions {
  int max_num_seqs = 16;        // --max-num-seqs: sequences holding KV at once (also sizes the KV pool)
  int max_batch_tokens = 512;   // --max-batch-tokens: tokens per step (the token budget; the prefill chunk)
  int max_queue = 256;          // --max-queue: waiting sequences; add() refuses past it (HTTP 429)
  bool prefix_cache = true;     // --no-prefix-cache (or --kv-tier off): share full blocks of identical prefixes
  int kv_disk_min_tokens = 64;  // --kv-disk-min-tokens: shorter runs of disk blocks are recomputed, not read
  double session_ttl_s = 600;   // --session-ttl-s: a session's pinned blocks are released after this idle time
  double max_pinned_gb = 2;     // --max-pinned-gb: KV bytes (all ranks) sessions may pin together
};

// The policy plus what the loaded model decides.
struct SchedulerConfig : SchedulerOptions {
  int n_blocks = 0;             // KV blocks per rank (required: from the loaded KV pool)
  int block_size = 0;           // tokens per block (required: RuntimeConfig::block_size)
  int n_ctx = 0;                // positions per sequence (required: the model's context)
  uint64_t cache_seed = 0;      // chains the block hashes (a new model may get a new seed)
  bool disk_tier = false;       // RuntimeConfig::kv_tier == cpu_disk: evictions become OFFLOAD ops
  uint64_t block_bytes = 0;     // KV bytes of one block, all ranks together (session accounting)
};

// Blocks sessions may pin together: max_pinned_gb over block_bytes (0 when block_bytes is unknown).
uint64_t max_pinned_blocks(const SchedulerConfig& c);

// One scheduled sequence in a step, in the order of the step message (new, then running).
struct ScheduledSeq {
  Sequence* seq = nullptr;
  int n_tokens = 0;   // tokens computed in this step, draft tokens included
  bool sample = false;  // the step's logit-row table has a row at this sequence's last known token
  // Speculative tokens computed after the last known token (a copy of Sequence::draft,
  // maybe shortened by the budget); each has a row. commit() keeps the KV of the leading
  // ones the engine has since appended to the sequence's tokens, and no more.
  std::vector<int32_t> draft;
  // Sampled requests: each draft token's proposal distribution (Sequence::draft_q,
  // shortened with draft); its tokens are the probes of the row that verifies it.
  std::vector<TokenProbs> draft_q;
};

struct StepPlan {
  StepMsg msg;
  std::vector<ScheduledSeq> seqs;
  int n_tokens = 0;
  // Parked cached blocks this step's allocations evicted, in order. Rank 0 only, not on
  // the wire (dropping KV from memory needs nothing from the ranks); a disk tier will
  // turn each into an OFFLOAD op.
  std::vector<Eviction> evictions;
  // Disk blocks read back in this step (their ops are the msg's restore ops, in order);
  // after the step ModelHost hands the ranks' results to finish_restores().
  std::vector<RestorePlan> restores;
  bool empty() const {
    return msg.new_seqs.empty() && msg.running.empty() && msg.finished.empty() && msg.kv_ops.empty();
  }
};

struct SchedulerStats {
  uint64_t prefix_queries_tokens = 0;  // prompt tokens looked up in the prefix cache
  uint64_t prefix_hit_tokens = 0;      // of which found
  uint64_t preemptions = 0;
  uint64_t offload_ops = 0;         // evicted blocks sent to the disk tier (OFFLOAD ops)
  uint64_t disk_restores = 0;       // admissions that read a run of blocks back (restore plans)
  uint64_t disk_hit_blocks = 0;     // blocks restored from disk on every rank
  uint64_t disk_failed_blocks = 0;  // restores that failed on some rank (recomputed)
  uint64_t disk_misses = 0;         // admissions whose next block was neither in memory nor (enough of it) on disk
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
  // A sequence with a session pins its full blocks for the session first (sessions.h).
  void finish(Sequence& s, FinishReason why);
  // After a step with restores: ok[i] per restore op in the step's op order (every
  // rank's result). Returns the hashes that failed (rank 0 deletes its own files of them).
  std::vector<uint64_t> finish_restores(const StepPlan& p, const std::vector<bool>& ok);
  // Rank 0's disk store events (blocks written, deleted), at a step boundary.
  void apply_disk_events(const std::vector<KvDiskEvent>& ev) { kv_.disk().apply(ev); }

  // Sessions (sessions.h).
  std::vector<SessionInfo> sessions() const;
  bool drop_session(const std::string& id);
  const SessionStats& session_stats() const { return session_stats_; }

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
  void emit(Sequence& s, int n, std::vector<int32_t> draft, std::vector<TokenProbs> draft_q, StepPlan& p);
  void release_blocks(Sequence& s);
  void add_offloads(const std::vector<Eviction>& ev, StepPlan& p);
  bool plan_restore(Sequence& s, const MatchPlan& m, StepPlan& p);
  // Sessions (sessions.cpp).
  void pin_session(Sequence& s);
  void expire_sessions();
  bool demote_session();  // unpins the least recently used session; false if none
  void unpin_session(SessionInfo& si);
  void enforce_pinned_budget(const std::string& keep);
  void note_session_hit(const Sequence& s, int n_cached);

  SchedulerConfig cfg_;
  KvManager kv_;
  std::deque<std::shared_ptr<Sequence>> waiting_;
  std::vector<std::shared_ptr<Sequence>> running_;  // admission order
  std::vector<uint64_t> pending_finished_;          // wire ids the ranks must free
  uint64_t next_wire_id_ = 1;
  uint64_t step_id_ = 0;
  SchedulerStats stats_;
  std::map<std::string, SessionInfo> sessions_;
  SessionStats session_stats_;
  uint64_t next_pin_key_ = 1;
};

}  // namespace shardlm
