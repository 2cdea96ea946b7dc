// Rank 0's allocator of KV block ids (the ids are the same on every rank), with the
// automatic prefix cache of ARCHITECTURE §5. Owned by the engine thread.
//
// Ref counts live here (house rule 5) so that sequences can share full blocks. A full,
// computed block may be *registered* under its chain hash (block-hash.h); when its last
// reference goes it is not freed but parked in an LRU list, still holding its KV, where
// a later lookup revives it. Nothing here evicts on its own: take_free() hands out blocks
// holding no cached KV, and evict() is the explicit eviction of one parked block, which
// the KV manager (kv-manager.h) plans in LRU order and lists in its allocation plan.
//
// Plan, then apply: match_prefix(), peek_free() and lru() only look (they mutate
// nothing); acquire(), take_free() and evict() do what a plan names.
#pragma once
#include <cstdint>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

#include "shardlm/kv/block-hash.h"

namespace shardlm {

class BlockPool {
 public:
  explicit BlockPool(int n_blocks);
  int capacity() const { return static_cast<int>(refs_.size()); }
  // Blocks that can be handed out now: the free list plus parked ones (by evict()).
  int n_available() const { return static_cast<int>(free_.size() + lru_.size()); }
  int n_free() const { return n_available(); }
  int n_used() const { return capacity() - n_available(); }
  int n_cached() const { return static_cast<int>(by_hash_.size()); }
  int n_free_list() const { return static_cast<int>(free_.size()); }  // blocks holding no cached KV
  int n_parked() const { return static_cast<int>(lru_.size()); }       // cached blocks nobody references

  // Explicit allocation. The ids take_free(n) would return, in that order (n <= n_free_list()).
  std::vector<int32_t> peek_free(int n) const;
  // n blocks from the free list, each with ref count 1 (asserts n <= n_free_list()).
  std::vector<int32_t> take_free(int n);
  // Parked blocks, least recently released first: the eviction order.
  const std::list<int32_t>& lru() const { return lru_; }
  // Evicts parked block id: drops its registration, takes it off the LRU list and hands
  // it to the caller with ref count 1 (its KV is overwritten by the new owner).
  void evict(int32_t id);
  // Moves the parked blocks among ids to the LRU tail, in order (as if taken and released
  // again); referenced ones are left alone.
  void touch(const std::vector<int32_t>& ids);

  // LEGACY, for callers that manage blocks by hand (app/cmd-generate.cpp,
  // bench/shardlm-perf.cpp; they never register blocks, so never evict): n blocks with
  // ref count 1, take_free() first, then evict() from the LRU front; nullopt (nothing
  // allocated) if fewer are available. The KV manager never calls it.
  std::optional<std::vector<int32_t>> allocate(int n);
  void incref(int32_t id);
  // Drops one reference; at zero a registered block goes to the LRU list, another one
  // to the free list.
  void release(int32_t id);
  void release(const std::vector<int32_t>& ids);
  int refs(int32_t id) const { return refs_[id]; }
  bool registered(int32_t id) const { return entries_[id].registered; }
  // The key a registered block is cached under.
  const BlockKey& key(int32_t id) const { return entries_[id].key; }

  // Prefix cache. The key is the block's chain hash plus its tokens (compared in full,
  // so a hash collision can never share wrong KV).
  // Registers a full, computed, referenced block; false (nothing changes) if the key is
  // already registered to another block or the block is already registered.
  bool register_block(int32_t id, const BlockKey& key);
  // The longest run of registered blocks matching keys[0..], at most max_blocks.
  std::vector<int32_t> match_prefix(const std::vector<BlockKey>& keys, int max_blocks) const;
  // Takes one reference on each block of a match (reviving parked ones).
  void acquire(const std::vector<int32_t>& ids);
  // Drops every registration (e.g. the model changed); referenced blocks stay in use.
  void clear_cache();

 private:
  struct Entry {
    BlockKey key;            // valid while registered
    bool registered = false;
    std::list<int32_t>::iterator lru_pos;  // valid while parked (registered, refs == 0)
  };
  void unregister(int32_t id);
  std::vector<int32_t> free_;  // LIFO, never-cached or evicted blocks
  std::list<int32_t> lru_;     // parked cached blocks, least recently released first
  std::vector<int> refs_;
  std::vector<Entry> entries_;
  std::unordered_multimap<uint64_t, int32_t> by_hash_;
};

// Blocks needed to hold n tokens.
inline int blocks_for(int64_t n_tokens, int block_size) {
  return static_cast<int>((n_tokens + block_size - 1) / block_size);
}

}  // namespace shardlm
