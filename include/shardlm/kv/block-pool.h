// Rank 0's allocator of KV block ids (the ids are the same on every rank), with the
// automatic prefix cache of ARCHITECTURE §5. Owned by the engine thread.
//
// Ref counts live here (house rule 5) so that sequences can share full blocks. A full,
// computed block may be *registered* under its chain hash (block-hash.h); when its last
// reference goes it is not freed but parked in an LRU list, still holding its KV, where
// a later lookup revives it. allocate() takes never-cached blocks first, then evicts the
// least recently released cached ones (dropping their hash).
//
// Plan, then apply: match_prefix() only looks (it mutates nothing); acquire() takes the
// references the plan names.
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
  // Blocks allocate() can hand out now: free ones plus cached ones nobody references.
  int n_available() const { return static_cast<int>(free_.size() + lru_.size()); }
  int n_free() const { return n_available(); }
  int n_used() const { return capacity() - n_available(); }
  int n_cached() const { return static_cast<int>(by_hash_.size()); }
  // n blocks with ref count 1, or nullopt (nothing allocated) if fewer are available.
  std::optional<std::vector<int32_t>> allocate(int n);
  void incref(int32_t id);
  // Drops one reference; at zero a registered block goes to the LRU list, another one
  // to the free list.
  void release(int32_t id);
  void release(const std::vector<int32_t>& ids);
  int refs(int32_t id) const { return refs_[id]; }

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
    BlockKey key;
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
