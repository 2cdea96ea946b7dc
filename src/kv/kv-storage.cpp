#include "shardlm/kv/kv-storage.h"

namespace shardlm {

KvStorage::KvStorage(const KvConfig& c) : c_(c), lay_(kv_block_layout(c.dtype, c.block_size, c.n_kv_local, c.head_dim)) {
  per_layer_bytes_ = static_cast<size_t>(c.n_blocks) * lay_.block_bytes;
  for (int l = 0; l < c.n_layer; ++l) {
    k_.emplace_back(per_layer_bytes_);
    v_.emplace_back(per_layer_bytes_);
  }
}

KvLayerView KvStorage::layer(int l) {
  return {k_[l].data(), v_[l].data(), c_.n_blocks, c_.block_size, c_.n_kv_local, c_.head_dim, c_.dtype};
}

KvBlockBytes KvStorage::block(int l, int b) {
  const size_t at = static_cast<size_t>(b) * lay_.block_bytes;
  return {static_cast<uint8_t*>(k_[l].data()) + at, static_cast<uint8_t*>(v_[l].data()) + at, lay_.block_bytes};
}

uint64_t KvStorage::bytes_per_token(const KvConfig& c) {
  const KvBlockLayout l = kv_block_layout(c.dtype, c.block_size, c.n_kv_local, c.head_dim);
  return 2ull * c.n_layer * l.block_bytes / static_cast<uint64_t>(c.block_size);
}

uint64_t KvStorage::pool_bytes(const KvConfig& c) {
  const KvBlockLayout l = kv_block_layout(c.dtype, c.block_size, c.n_kv_local, c.head_dim);
  return 2ull * c.n_layer * c.n_blocks * l.block_bytes;
}

}  // namespace shardlm
