#include "shardlm/kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "shardlm/kernels/quant.h"

namespace shardlm {

namespace {

size_t elem_bytes(DType t) { return t == DType::F32 ? 4 : 2; }

// n values of the cache (dtype t) at element offset `at`, as f32.
inline const float* read_row(const void* base, DType t, int64_t at, int n, float* tmp) {
  if (t == DType::F32) return static_cast<const float*>(base) + at;
  const uint16_t* h = static_cast<const uint16_t*>(base) + at;
  if (t == DType::F16)
    for (int d = 0; d < n; ++d) tmp[d] = fp16_to_fp32(h[d]);
  else
    for (int d = 0; d < n; ++d) tmp[d] = bf16_to_fp32(h[d]);
  return tmp;
}

inline void write_row(void* base, DType t, int64_t at, const float* x, int64_t n) {
  if (t == DType::F32) {
    std::memcpy(static_cast<float*>(base) + at, x, n * sizeof(float));
    return;
  }
  uint16_t* h = static_cast<uint16_t*>(base) + at;
  if (t == DType::F16)
    for (int64_t d = 0; d < n; ++d) h[d] = fp32_to_fp16(x[d]);
  else
    for (int64_t d = 0; d < n; ++d) h[d] = fp32_to_bf16(x[d]);
}

}  // namespace

size_t kv_elem_bytes(DType t) { return elem_bytes(t); }

void kv_write(const KvLayerView& kv, const AttnTokens& t, const float* k_new, const float* v_new) {
  const int64_t row = static_cast<int64_t>(kv.n_kv) * kv.head_dim;
  for (int64_t i = 0; i < t.n; ++i) {
    const int32_t p = t.pos[i];
    const int64_t block = t.block_table[i][p / kv.block_size];
    const int64_t slot = block * kv.block_size + p % kv.block_size;
    write_row(kv.k, kv.dtype, slot * row, k_new + i * row, row);
    write_row(kv.v, kv.dtype, slot * row, v_new + i * row, row);
  }
}

void attention(const KvLayerView& kv, const AttnTokens& t, const float* q, int n_q, const int* q_to_kv,
               float* out, ThreadPool& pool) {
  const int hd = kv.head_dim;
  const int64_t row = static_cast<int64_t>(kv.n_kv) * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  pool.parallel_for(t.n * n_q, 1, [&](int64_t b, int64_t e, int) {
    std::vector<float> acc(hd), kt(hd), vt(hd);
    for (int64_t job = b; job < e; ++job) {
      const int64_t i = job / n_q;
      const int h = static_cast<int>(job % n_q);
      const float* qh = q + (i * n_q + h) * hd;
      const int kvh = q_to_kv[h];
      const int32_t* bt = t.block_table[i];
      float m = -std::numeric_limits<float>::infinity(), l = 0;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int32_t p = 0; p <= t.pos[i]; ++p) {
        const int64_t slot = static_cast<int64_t>(bt[p / kv.block_size]) * kv.block_size + p % kv.block_size;
        const float* kp = read_row(kv.k, kv.dtype, slot * row + kvh * hd, hd, kt.data());
        const float* vp = read_row(kv.v, kv.dtype, slot * row + kvh * hd, hd, vt.data());
        float s = 0;
        for (int d = 0; d < hd; ++d) s += qh[d] * kp[d];
        s *= scale;
        if (s > m) {
          const float c = std::exp(m - s);
          l *= c;
          for (int d = 0; d < hd; ++d) acc[d] *= c;
          m = s;
        }
        const float w = std::exp(s - m);
        l += w;
        for (int d = 0; d < hd; ++d) acc[d] += w * vp[d];
      }
      float* o = out + (i * n_q + h) * hd;
      for (int d = 0; d < hd; ++d) o[d] = acc[d] / l;
    }
  });
}

}  // namespace shardlm
