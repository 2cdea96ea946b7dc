#include "shardlm/kv/block-pool.h"

#include <algorithm>
#include <cassert>

namespace shardlm {

BlockPool::BlockPool(int n_blocks) : refs_(n_blocks, 0), entries_(n_blocks) {
  for (int i = n_blocks - 1; i >= 0; --i) free_.push_back(i);
}

std::vector<int32_t> BlockPool::peek_free(int n) const {
  assert(n >= 0 && n <= n_free_list());
  return std::vector<int32_t>(free_.rbegin(), free_.rbegin() + n);
}

std::vector<int32_t> BlockPool::take_free(int n) {
  std::vector<int32_t> out = peek_free(n);
  free_.resize(free_.size() - out.size());
  for (auto id : out) {
    assert(refs_[id] == 0 && !entries_[id].registered);
    refs_[id] = 1;
  }
  return out;
}

void BlockPool::evict(int32_t id) {
  Entry& e = entries_[id];
  assert(refs_[id] == 0 && e.registered);
  lru_.erase(e.lru_pos);
  unregister(id);
  refs_[id] = 1;
}

void BlockPool::touch(const std::vector<int32_t>& ids) {
  for (auto id : ids) {
    if (refs_[id] > 0) continue;
    Entry& e = entries_[id];
    assert(e.registered);
    lru_.splice(lru_.end(), lru_, e.lru_pos);
  }
}

std::optional<std::vector<int32_t>> BlockPool::allocate(int n) {
  if (n > n_available()) return std::nullopt;
  const int n_fresh = std::min(n, n_free_list());
  std::vector<int32_t> out = take_free(n_fresh);
  for (int i = n_fresh; i < n; ++i) {
    const int32_t id = lru_.front();
    evict(id);
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
  if (--refs_[id] > 0) return;
  Entry& e = entries_[id];
  if (e.registered) {
    lru_.push_back(id);
    e.lru_pos = std::prev(lru_.end());
  } else {
    free_.push_back(id);
  }
}

void BlockPool::release(const std::vector<int32_t>& ids) {
  for (auto id : ids) release(id);
}

bool BlockPool::register_block(int32_t id, const BlockKey& key) {
  assert(refs_[id] > 0);
  if (entries_[id].registered) return false;
  auto [b, e] = by_hash_.equal_range(key.hash);
  for (auto it = b; it != e; ++it)
    if (entries_[it->second].key == key) return false;
  entries_[id].key = key;
  entries_[id].registered = true;
  by_hash_.emplace(key.hash, id);
  return true;
}

std::vector<int32_t> BlockPool::match_prefix(const std::vector<BlockKey>& keys, int max_blocks) const {
  std::vector<int32_t> out;
  for (const auto& k : keys) {
    if (static_cast<int>(out.size()) >= max_blocks) break;
    int32_t found = -1;
    auto [b, e] = by_hash_.equal_range(k.hash);
    for (auto it = b; it != e; ++it)
      if (entries_[it->second].key == k) found = it->second;
    if (found < 0) break;
    out.push_back(found);
  }
  return out;
}

void BlockPool::acquire(const std::vector<int32_t>& ids) {
  for (auto id : ids) {
    if (refs_[id] == 0) {
      assert(entries_[id].registered);
      lru_.erase(entries_[id].lru_pos);
    }
    ++refs_[id];
  }
}

void BlockPool::unregister(int32_t id) {
  Entry& e = entries_[id];
  if (!e.registered) return;
  auto [b, en] = by_hash_.equal_range(e.key.hash);
  for (auto it = b; it != en; ++it)
    if (it->second == id) {
      by_hash_.erase(it);
      break;
    }
  e = Entry{};
}

void BlockPool::clear_cache() {
  for (auto id : lru_) {
    unregister(id);
    free_.push_back(id);
  }
  lru_.clear();
  for (int32_t id = 0; id < capacity(); ++id) unregister(id);
}

}  // namespace shardlm
