// Causal attention over a paged KV cache.
#pragma once
#include <cstddef>
#include <cstdint>

#include "shardlm/core/dtype.h"
#include "shardlm/core/thread-pool.h"

namespace shardlm {

// One layer of one rank's KV pool: k and v are n_blocks blocks of kv_block_layout()
// bytes each: elements [n_kv, block_size, head_dim] of dtype (F32, F16, BF16, or the
// one-byte F8_E4M3 / I8 followed by f16 scales [n_kv, block_size]; kernels/kv-quant.h).
// Values are rounded / quantized when written and read back as f32.
struct KvLayerView {
  void* k = nullptr;
  void* v = nullptr;
  int n_blocks = 0;
  int block_size = 0;  // tokens per block (set by KvStorage)
  int n_kv = 0;
  int head_dim = 0;
  DType dtype = DType::F32;
};

// Per-token addressing into the paged cache.
struct AttnTokens {
  int64_t n = 0;
  const int32_t* pos = nullptr;                 // [n] position of the token in its sequence
  const int32_t* const* block_table = nullptr;  // [n] block table of the token's sequence
};

// Bytes of one cache element of this dtype (4 for F32, 2 for F16/BF16, 1 for F8_E4M3/I8;
// scales not included: kv_block_layout() has a block's bytes).
size_t kv_elem_bytes(DType t);

// Writes k_new/v_new [n, n_kv, head_dim] into their slots (block_table[pos/bs], pos%bs).
void kv_write(const KvLayerView& kv, const AttnTokens& t, const float* k_new, const float* v_new);

// out[n, n_q, head_dim] = softmax(q·Kᵀ/√d) V over positions 0..pos of each token's
// sequence, query head h reading KV head q_to_kv[h]. Online softmax, one pass.
void attention(const KvLayerView& kv, const AttnTokens& t, const float* q, int n_q, const int* q_to_kv,
               float* out, ThreadPool& pool);

}  // namespace shardlm
