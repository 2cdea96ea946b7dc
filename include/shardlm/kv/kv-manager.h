// Rank 0's KV manager (ARCHITECTURE §5), between the scheduler and the BlockPool. Owned
// by the engine thread. It keeps one block table per admitted sequence and turns the
// scheduler's needs into plans over the pool:
//   match()    cached full blocks a sequence's known tokens can share
//   allocate() blocks for a sequence to hold n tokens: shared match, free-list blocks,
//              and, when those run out, explicit evictions of parked cached blocks in LRU
//              order (a later disk tier turns each eviction into an OFFLOAD op)
//   commit()   registration of newly full, computed blocks under their chain hash
//   free()     release of a sequence's blocks (registered ones park in the LRU list)
// Plan, then apply (house rule 5): the planning calls mutate nothing; one apply() per
// plan kind does what the plan names, against the state the plan was made from (an
// epoch check asserts that). Ref counts stay in the pool.
//
// Tables are keyed by the sequence's wire id (sched/sequence.h): one table per
// admission, the lifetime of the ranks' state for that id. A preempted sequence is freed
// here and re-admitted under a new wire id with a new table.
//
// Disk tier (cfg.disk_tier): the manager keeps rank 0's index of blocks on disk
// (kv-disk-index.h). plan_restore() finds the disk blocks that continue a memory match
// and names the blocks to read them into; apply() holds those blocks; after the step,
// finish_restore() registers the ones every rank restored (they then count as cached
// blocks in memory, parked) and releases the others, forgetting them on disk.
//
// Pinning (for sticky sessions): pin(key, blocks) takes one pool reference per block
// under a caller's key, so pinned blocks are never parked and never evicted; unpin(key)
// drops those references (registered blocks park at the LRU tail).
#pragma once
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/kv/block-hash.h"
#include "shardlm/kv/block-pool.h"
#include "shardlm/kv/kv-disk-index.h"

namespace shardlm {

// The prefix-cache defaults live here; SchedulerConfig takes its own from KvManagerConfig{}.
struct KvManagerConfig {
  int n_blocks = 0;           // KV blocks per rank (required)
  int block_size = 0;         // tokens per block (required: RuntimeConfig::block_size)
  bool prefix_cache = false;  // share full blocks of identical prefixes (from SchedulerOptions::prefix_cache)
  uint64_t cache_seed = 0;    // chains the block hashes (a new model gets a new seed)
  bool disk_tier = false;     // evicted blocks are offloaded and restored (RuntimeConfig::kv_tier cpu_disk)
  int restore_min_blocks = 4;  // shorter runs of disk blocks are recomputed (from SchedulerOptions)
};

// One sequence's blocks.
struct SeqBlocks {
  std::vector<int32_t> blocks;  // block table: positions [i*block_size, (i+1)*block_size) live in blocks[i]
  int n_sent = 0;               // leading blocks the ranks already know (the step diff sends the rest)
  int n_registered = 0;         // leading full blocks registered in the prefix cache
  uint64_t chain_hash = 0;      // hash of block n_registered - 1; the cache seed while none is
};

// Full blocks of a sequence's known tokens found in the prefix cache.
struct MatchPlan {
  std::vector<int32_t> blocks;  // cached blocks to share, in position order
  int n_tokens = 0;             // tokens they hold (blocks.size() * block_size)
  uint64_t chain_hash = 0;      // hash of the last matched block; the cache seed if none
};

// A parked cached block taken for reuse: its KV (positions of `key.tokens`) is lost.
struct Eviction {
  int32_t block = 0;
  BlockKey key;                 // what it was cached under
};

struct AllocPlan {
  uint64_t seq = 0;               // wire id
  bool opens = false;             // creates the table (an admission); else grows it
  MatchPlan match;                // blocks shared at the front (only when opening)
  std::vector<int32_t> fresh;     // blocks from the free list, in take order
  std::vector<Eviction> evicted;  // parked blocks evicted for reuse, LRU order
  uint64_t epoch = 0;             // manager state the plan was made from
  int n_new() const { return static_cast<int>(fresh.size() + evicted.size()); }
};

// Disk blocks continuing a match, to read back into memory before the sequence admits.
struct RestorePlan {
  std::vector<BlockKey> keys;     // in position order; keys[0] follows the match's last block
  std::vector<int32_t> fresh;     // blocks from the free list
  std::vector<Eviction> evicted;  // parked blocks evicted for it (LRU order)
  uint64_t epoch = 0;
  // The block keys[i] is read into: fresh, then evicted, in order.
  int32_t block(size_t i) const {
    return i < fresh.size() ? fresh[i] : evicted[i - fresh.size()].block;
  }
};

struct Registration {
  int32_t block = 0;
  BlockKey key;
};

struct CommitPlan {
  uint64_t seq = 0;
  std::vector<Registration> regs;  // newly full blocks, in position order
  uint64_t epoch = 0;
};

struct FreePlan {
  uint64_t seq = 0;
  std::vector<int32_t> release;  // the table, released in position order
  uint64_t epoch = 0;
};

class KvManager {
 public:
  explicit KvManager(const KvManagerConfig& cfg);
  const KvManagerConfig& config() const { return cfg_; }
  int capacity() const { return pool_.capacity(); }
  int n_used() const { return pool_.n_used(); }        // blocks referenced (by sequences or pins)
  int n_cached() const { return pool_.n_cached(); }    // registered blocks, referenced or parked
  int n_available() const { return pool_.n_available(); }
  const BlockPool& pool() const { return pool_; }

  // Planning: nothing here mutates.
  // Cached full blocks of `tokens` (known tokens of a sequence), always leaving at least
  // one token to compute; empty with the prefix cache off.
  MatchPlan match(const std::vector<int32_t>& tokens) const;
  // Blocks for sequence `seq` to hold n_tokens positions. A sequence with no table gets
  // one, starting with `m`'s shared blocks (which can then not be evicted for it); a
  // sequence with a table grows it (`m` must be empty). nullopt if the free list and the
  // parked blocks not in `m` are too few.
  std::optional<AllocPlan> allocate(uint64_t seq, int n_tokens, const MatchPlan& m = {}) const;
  // Full blocks of the first n_computed tokens not yet registered (none with the prefix
  // cache off). `tokens` are the sequence's tokens (at least n_computed).
  CommitPlan commit(uint64_t seq, const std::vector<int32_t>& tokens, int n_computed) const;
  // Releases every block of the sequence and drops its table.
  FreePlan free(uint64_t seq) const;

  // The disk blocks after `m` (at least restore_min_blocks of them, each on disk and none
  // in memory, leaving a token to compute) and blocks to hold them; nullopt without the
  // disk tier, below the threshold, or when too few blocks are available.
  std::optional<RestorePlan> plan_restore(const std::vector<int32_t>& tokens, const MatchPlan& m) const;

  // Applying: each does exactly what its plan names.
  void apply(const RestorePlan& p);  // takes the blocks (one reference each) until finish_restore
  // ok[i]: keys[i] was restored on every rank. Registers those and releases every block
  // of the plan (registered ones park, in position order); failed ones leave the index.
  // Returns the failed keys' hashes.
  std::vector<uint64_t> finish_restore(const RestorePlan& p, const std::vector<bool>& ok);
  KvDiskIndex& disk() { return disk_; }
  const KvDiskIndex& disk() const { return disk_; }
  void apply(const AllocPlan& p);
  void apply(const CommitPlan& p);
  void apply(const FreePlan& p);
  // A match that could not be used (its allocation failed): its parked blocks move to
  // the LRU tail, as if taken and released.
  void touch(const MatchPlan& m);

  // Tables.
  bool has(uint64_t seq) const { return seqs_.count(seq) > 0; }
  const SeqBlocks& table(uint64_t seq) const;
  // Blocks the ranks do not know yet (table[n_sent..]); mark_sent() records they now do.
  std::vector<int32_t> unsent(uint64_t seq) const;
  void mark_sent(uint64_t seq);

  // Pinning. Every block must be referenced or parked (a free block holds no KV), and a
  // key pins one set at a time; otherwise an error and nothing changes.
  Status pin(uint64_t key, const std::vector<int32_t>& blocks);
  // false if nothing is pinned under key.
  bool unpin(uint64_t key);
  bool pinned(uint64_t key) const { return pins_.count(key) > 0; }
  const std::vector<int32_t>& pinned_blocks(uint64_t key) const { return pins_.at(key); }

 private:
  SeqBlocks& table_mut(uint64_t seq);
  KvManagerConfig cfg_;
  BlockPool pool_;
  std::unordered_map<uint64_t, SeqBlocks> seqs_;             // wire id → table
  std::unordered_map<uint64_t, std::vector<int32_t>> pins_;  // pin key → blocks referenced
  KvDiskIndex disk_;  // rank 0's index of blocks on disk (disk tier only)
  uint64_t epoch_ = 0;  // bumped by every mutation; a plan applies only at its own epoch
};

}  // namespace shardlm
