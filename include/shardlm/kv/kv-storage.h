// Each rank's paged KV pool: K and V for its own KV heads, every layer.
// Block ids are decided by rank 0 and are the same on every rank.
#pragma once
#include <cstdint>
#include <vector>

#include "shardlm/core/mmap.h"
#include "shardlm/kernels/attention.h"

namespace shardlm {

struct KvConfig {
  int n_layer = 0;
  int n_blocks = 0;      // blocks in the pool (every rank the same)
  int block_size = 0;    // tokens per block (required: RuntimeConfig::block_size)
  int n_kv_local = 0;    // KV heads held by this rank
  int head_dim = 0;
  DType dtype = DType::F32;  // F32, F16 or BF16 (the runtime default is F16: --kv-cache-dtype)
};

// The bytes of one block of one layer: K and V, each dtype [block_size, n_kv_local, head_dim]
// (the block is contiguous within its layer). The one way code outside the attention
// kernels (the disk tier) reads or writes a block's KV; per-block scales of a quantized
// KV dtype belong here too.
struct KvBlockBytes {
  uint8_t* k = nullptr;
  uint8_t* v = nullptr;
  size_t bytes = 0;  // of k, and of v
};

class KvStorage {
 public:
  explicit KvStorage(const KvConfig& c);
  KvLayerView layer(int l);
  const KvConfig& config() const { return c_; }
  uint64_t bytes() const { return static_cast<uint64_t>(k_.size()) * 2 * per_layer_bytes_; }
  // Layer l's K and V bytes of block `block` (0 <= block < n_blocks).
  KvBlockBytes block_bytes(int layer, int32_t block);
  // Bytes of one block over every layer, K and V: what a disk file of it holds.
  size_t block_bytes_all_layers() const { return 2 * static_cast<size_t>(c_.n_layer) * block_stride_; }

 private:
  KvConfig c_;
  size_t per_layer_bytes_ = 0;
  size_t block_stride_ = 0;  // bytes of one block in one layer's K (or V) array
  std::vector<Buffer> k_, v_;  // per layer: dtype [n_blocks, block_size, n_kv_local, head_dim]
};

}  // namespace shardlm
