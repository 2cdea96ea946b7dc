#include "shardlm/kv/kv-storage.h"

#include <cassert>

namespace shardlm {

KvStorage::KvStorage(const KvConfig& c) : c_(c) {
  block_stride_ = static_cast<size_t>(c.block_size) * c.n_kv_local * c.head_dim * kv_elem_bytes(c.dtype);
  per_layer_bytes_ = static_cast<size_t>(c.n_blocks) * block_stride_;
  for (int l = 0; l < c.n_layer; ++l) {
    k_.emplace_back(per_layer_bytes_);
    v_.emplace_back(per_layer_bytes_);
  }
}

KvLayerView KvStorage::layer(int l) {
  return {k_[l].data(), v_[l].data(), c_.n_blocks, c_.block_size, c_.n_kv_local, c_.head_dim, c_.dtype};
}

KvBlockBytes KvStorage::block_bytes(int layer, int32_t block) {
  assert(layer >= 0 && layer < c_.n_layer && block >= 0 && block < c_.n_blocks);
  const size_t off = static_cast<size_t>(block) * block_stride_;
  return {static_cast<uint8_t*>(k_[layer].data()) + off, static_cast<uint8_t*>(v_[layer].data()) + off, block_stride_};
}

}  // namespace shardlm
