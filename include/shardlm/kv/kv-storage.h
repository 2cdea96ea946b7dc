// Each rank's paged KV pool: K and V for its own KV heads, every layer.
// Block ids are decided by rank 0 and are the same on every rank.
//
// Per layer, K and V are each n_blocks blocks of layout().block_bytes bytes laid out
// one after the other (kernels/kv-quant.h: the block's elements, then, for F8_E4M3 and
// I8, its f16 scales). A block of a layer is therefore two contiguous byte ranges that
// hold everything needed to read it back — block(l, b) hands them out (for copying a
// block to and from another tier).
#pragma once
#include <cstdint>
#include <vector>

#include "shardlm/core/mmap.h"
#include "shardlm/kernels/attention.h"
#include "shardlm/kernels/kv-quant.h"

namespace shardlm {

struct KvConfig {
  int n_layer = 0;
  int n_blocks = 0;      // blocks in the pool (every rank the same)
  int block_size = 0;    // tokens per block (required: RuntimeConfig::block_size)
  int n_kv_local = 0;    // KV heads held by this rank
  int head_dim = 0;
  DType dtype = DType::F32;  // F32, F16, BF16, F8_E4M3 or I8 (the runtime default is F16: --kv-cache-dtype)
};

// Block b of layer l: K and V, each `bytes` long, scales included (the block is
// contiguous within its layer). The one way code outside the attention kernels (the
// disk tier) reads or writes a block's KV.
struct KvBlockBytes {
  uint8_t* k = nullptr;
  uint8_t* v = nullptr;
  size_t bytes = 0;
};

class KvStorage {
 public:
  explicit KvStorage(const KvConfig& c);
  KvLayerView layer(int l);
  KvBlockBytes block(int l, int b);
  const KvConfig& config() const { return c_; }
  const KvBlockLayout& layout() const { return lay_; }
  uint64_t bytes() const { return static_cast<uint64_t>(k_.size()) * 2 * per_layer_bytes_; }
  // K + V bytes of one token position over all layers (scales included).
  static uint64_t bytes_per_token(const KvConfig& c);
  // K + V bytes of the whole pool.
  static uint64_t pool_bytes(const KvConfig& c);
  // Bytes of one block over every layer, K and V: what a disk file of it holds.
  size_t block_bytes_all_layers() const { return 2 * static_cast<size_t>(c_.n_layer) * lay_.block_bytes; }

 private:
  KvConfig c_;
  KvBlockLayout lay_;
  size_t per_layer_bytes_ = 0;
  std::vector<Buffer> k_, v_;  // per layer: n_blocks × lay_.block_bytes
};

}  // namespace shardlm
