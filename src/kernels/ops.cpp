#include "shardlm/kernels/ops.h"

#include <cmath>

namespace shardlm {

void rmsnorm(const float* x, const float* w, int64_t n, int64_t d, float eps, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float* xr = x + i * d;
    double ss = 0;
    for (int64_t j = 0; j < d; ++j) ss += static_cast<double>(xr[j]) * xr[j];
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / d + eps));
    float* o = out + i * d;
    for (int64_t j = 0; j < d; ++j) o[j] = xr[j] * scale * w[j];
  }
}

RopeParams RopeParams::make(int head_dim, int rope_dim, RopeLayout layout, float theta,
                            const std::vector<float>& freq_factors, float linear_factor) {
  RopeParams p;
  p.head_dim = head_dim;
  p.rope_dim = rope_dim;
  p.layout = layout;
  p.inv_freq.resize(rope_dim / 2);
  for (int i = 0; i < rope_dim / 2; ++i) {
    double f = std::pow(static_cast<double>(theta), -2.0 * i / rope_dim);
    if (!freq_factors.empty()) f /= freq_factors[i];
    p.inv_freq[i] = static_cast<float>(f);
  }
  p.pos_scale = 1.0f / linear_factor;
  return p;
}

void rope(float* x, int64_t n, int n_heads, const int32_t* pos, const RopeParams& p) {
  const int half = p.rope_dim / 2;
  std::vector<float> cs(half), sn(half);
  for (int64_t t = 0; t < n; ++t) {
    const double pt = static_cast<double>(pos[t]) * p.pos_scale;
    for (int i = 0; i < half; ++i) {
      // Angle in double, then rounded: matches the references to float precision.
      const double a = pt * p.inv_freq[i];
      cs[i] = static_cast<float>(std::cos(a));
      sn[i] = static_cast<float>(std::sin(a));
    }
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * p.head_dim;
      for (int i = 0; i < half; ++i) {
        const int a = p.layout == RopeLayout::Adjacent ? 2 * i : i;
        const int b = p.layout == RopeLayout::Adjacent ? 2 * i + 1 : i + half;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * cs[i] - x1 * sn[i];
        v[b] = x0 * sn[i] + x1 * cs[i];
      }
    }
  }
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

}  // namespace shardlm
