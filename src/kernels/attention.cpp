#include "shardlm/kernels/attention.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace shardlm {

void kv_write(const KvLayerView& kv, const AttnTokens& t, const float* k_new, const float* v_new) {
  const int64_t row = static_cast<int64_t>(kv.n_kv) * kv.head_dim;
  for (int64_t i = 0; i < t.n; ++i) {
    const int32_t p = t.pos[i];
    const int64_t block = t.block_table[i][p / kv.block_size];
    const int64_t slot = block * kv.block_size + p % kv.block_size;
    std::memcpy(kv.k + slot * row, k_new + i * row, row * sizeof(float));
    std::memcpy(kv.v + slot * row, v_new + i * row, row * sizeof(float));
  }
}

void attention(const KvLayerView& kv, const AttnTokens& t, const float* q, int n_q, const int* q_to_kv,
               float* out, ThreadPool& pool) {
  const int hd = kv.head_dim;
  const int64_t row = static_cast<int64_t>(kv.n_kv) * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  pool.parallel_for(t.n * n_q, 1, [&](int64_t b, int64_t e, int) {
    std::vector<float> acc(hd);
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
        const float* kp = kv.k + slot * row + kvh * hd;
        const float* vp = kv.v + slot * row + kvh * hd;
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
