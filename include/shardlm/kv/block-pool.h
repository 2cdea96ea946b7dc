// Rank 0's allocator of KV block ids (the ids are the same on every rank).
// Owned by the engine thread. Ref counts live here (house rule 5) so that the
// prefix cache can share blocks between sequences.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

namespace shardlm {

class BlockPool {
 public:
  explicit BlockPool(int n_blocks);
  int capacity() const { return static_cast<int>(refs_.size()); }
  int n_free() const { return static_cast<int>(free_.size()); }
  // n fresh blocks with ref count 1, or nullopt (nothing allocated) if too few are free.
  std::optional<std::vector<int32_t>> allocate(int n);
  void incref(int32_t id);
  // Drops one reference; the block returns to the free list at zero.
  void release(int32_t id);
  void release(const std::vector<int32_t>& ids);
  int refs(int32_t id) const { return refs_[id]; }

 private:
  std::vector<int32_t> free_;  // LIFO
  std::vector<int> refs_;
};

// Blocks needed to hold n tokens.
inline int blocks_for(int64_t n_tokens, int block_size) {
  return static_cast<int>((n_tokens + block_size - 1) / block_size);
}

}  // namespace shardlm
