// Rank 0's index of the KV blocks on disk (the disk tier, ARCHITECTURE §5): which block
// keys rank 0's own store holds, kept from that store's events (kv/kv-disk-store.h) at
// step boundaries. Engine thread only. The index claims a block for planning; it is
// not a promise that every rank holds it: a restore that fails on any rank is reported
// by the step and the block is recomputed (the entry dropped).
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "shardlm/kv/block-hash.h"
#include "shardlm/kv/kv-disk-store.h"

namespace shardlm {

class KvDiskIndex {
 public:
  void apply(const std::vector<KvDiskEvent>& events) {
    for (const auto& e : events) {
      if (e.kind == KvDiskEvent::added) keys_[e.key.hash] = e.key;
      else keys_.erase(e.key.hash);
    }
  }
  // The key is on disk (hash, parent and tokens all equal: a collision never matches).
  bool has(const BlockKey& k) const {
    auto it = keys_.find(k.hash);
    return it != keys_.end() && it->second == k;
  }
  bool has_hash(uint64_t hash) const { return keys_.count(hash) > 0; }
  void erase(uint64_t hash) { keys_.erase(hash); }
  void clear() { keys_.clear(); }
  size_t size() const { return keys_.size(); }

 private:
  std::unordered_map<uint64_t, BlockKey> keys_;
};

}  // namespace shardlm
