#include "shardlm/kv/block-pool.h"

#include <cassert>

namespace shardlm {

BlockPool::BlockPool(int n_blocks) : refs_(n_blocks, 0) {
  for (int i = n_blocks - 1; i >= 0; --i) free_.push_back(i);
}

std::optional<std::vector<int32_t>> BlockPool::allocate(int n) {
  if (n > n_free()) return std::nullopt;
  std::vector<int32_t> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    int32_t id = free_.back();
    free_.pop_back();
    assert(refs_[id] == 0);
    refs_[id] = 1;
    out.push_back(id);
  }
  return out;
}

void BlockPool::incref(int32_t id) {
  assert(refs_[id] > 0);
  ++refs_[id];
}

void BlockPool::release(int32_t id) {
  assert(refs_[id] > 0);
  if (--refs_[id] == 0) free_.push_back(id);
}

void BlockPool::release(const std::vector<int32_t>& ids) {
  for (auto id : ids) release(id);
}

}  // namespace shardlm
