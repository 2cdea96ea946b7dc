#include "shardlm/kv/kv-storage.h"

namespace shardlm {

KvStorage::KvStorage(const KvConfig& c) : c_(c) {
  per_layer_bytes_ = static_cast<size_t>(c.n_blocks) * c.block_size * c.n_kv_local * c.head_dim * kv_elem_bytes(c.dtype);
  for (int l = 0; l < c.n_layer; ++l) {
    k_.emplace_back(per_layer_bytes_);
    v_.emplace_back(per_layer_bytes_);
  }
}

KvLayerView KvStorage::layer(int l) {
  return {k_[l].data(), v_[l].data(), c_.n_blocks, c_.block_size, c_.n_kv_local, c_.head_dim, c_.dtype};
}

}  // namespace shardlm
