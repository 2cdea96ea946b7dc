// F16 x f32 register-tiled products with AVX2 + FMA + F16C over the F16x8 layout
// (gemm-f16.h has the layout, the math and the tile shapes).
//
// The library is compiled for the x86-64 baseline: the tile functions carry a target
// attribute and are only reached for weights packed where gemm_f16_supported().
#include "shardlm/kernels/gemm-f16.h"

#include <algorithm>
#include <cstring>

#include "shardlm/core/cpu-features.h"
#include "shardlm/kernels/vec-dot.h"

#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define SHARDLM_F16 __attribute__((target("avx2,fma,f16c")))
#endif

namespace shardlm {

bool gemm_f16_supported() {
#if defined(__x86_64__)
  return best_isa(cpu_features()) == Isa::Avx2;
#else
  return false;
#endif
}

size_t gemm_f16_packed_weight_bytes(int64_t rows, int64_t cols) {
  return static_cast<size_t>((rows + kGemmF16GroupRows - 1) / kGemmF16GroupRows * cols) * 16;
}

void gemm_f16_pack_weights(const WeightView& w, uint8_t* dst) {
  const int64_t groups = (w.rows + kGemmF16GroupRows - 1) / kGemmF16GroupRows;
  for (int64_t g = 0; g < groups; ++g) {
    uint8_t* o = dst + static_cast<size_t>(g * w.cols) * 16;
    for (int l = 0; l < kGemmF16GroupRows; ++l) {
      const int64_t r = g * kGemmF16GroupRows + l;
      if (r >= w.rows) {
        for (int64_t k = 0; k < w.cols; ++k) std::memset(o + k * 16 + 2 * l, 0, 2);
        continue;
      }
      const uint8_t* src = w.data + r * w.row_bytes;
      for (int64_t k = 0; k < w.cols; ++k) std::memcpy(o + k * 16 + 2 * l, src + 2 * k, 2);
    }
  }
}

#if defined(__x86_64__)
namespace {

// Groups per block: the block's weights (8 * 8 rows * cols * 2 bytes) stay in L2 while
// every token passes over them (64 rows measured best of 32-256 on Zen 3, 2048 and 5632
// columns; 6 tokens x 2 groups the best tile of 6 x 2, 5 x 2, 4 x 3, 3 x 4).
constexpr int64_t kBlockGroups = 8;

// y[t * ldy + 8g + l] for G groups at w (their first) and T tokens at x (cols apart);
// nr = valid rows from the tile's first (stores stop there).
template <int G, int T>
SHARDLM_F16 void tile(const uint8_t* w, int64_t cols, const float* x, float* y, int64_t ldy, int64_t nr) {
  __m256 acc[G][T];
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[g][t] = _mm256_setzero_ps();
  const size_t gs = static_cast<size_t>(cols) * 16;
  for (int64_t k = 0; k < cols; ++k) {
    __m256 wv[G];
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g)
      wv[g] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + g * gs + k * 16)));
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m256 xv = _mm256_broadcast_ss(x + t * cols + k);
#pragma GCC unroll 8
      for (int g = 0; g < G; ++g) acc[g][t] = _mm256_fmadd_ps(wv[g], xv, acc[g][t]);
    }
  }
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) {
    const int64_t valid = std::clamp<int64_t>(nr - 8 * g, 0, 8);
    if (valid == 0) continue;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      float* o = y + t * ldy + 8 * g;
      if (valid == 8)
        _mm256_storeu_ps(o, acc[g][t]);
      else
        _mm256_maskstore_ps(o, mask, acc[g][t]);
    }
  }
}

// Tokens [t0, t0 + T) against groups [g0, g1): G groups at a time, then one.
template <int T, int G>
SHARDLM_F16 void tokens(const WeightView& w, const float* x, int64_t t0, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  const size_t gs = static_cast<size_t>(w.cols) * 16;
  const float* xt = x + t0 * w.cols;
  float* yt = y + t0 * ldy;
  int64_t g = g0;
  for (; g + G <= g1; g += G) tile<G, T>(w.data + g * gs, w.cols, xt, yt + 8 * g, ldy, w.rows - 8 * g);
  for (; g < g1; ++g) tile<1, T>(w.data + g * gs, w.cols, xt, yt + 8 * g, ldy, w.rows - 8 * g);
}

SHARDLM_F16 void block(const WeightView& w, const float* x, int64_t n, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  int64_t t = 0;
  for (; t + 6 <= n; t += 6) tokens<6, 2>(w, x, t, y, ldy, g0, g1);
  switch (n - t) {
    case 5: tokens<5, 2>(w, x, t, y, ldy, g0, g1); break;
    case 4: tokens<4, 2>(w, x, t, y, ldy, g0, g1); break;
    case 3: tokens<3, 3>(w, x, t, y, ldy, g0, g1); break;
    case 2: tokens<2, 4>(w, x, t, y, ldy, g0, g1); break;
    case 1: tokens<1, 8>(w, x, t, y, ldy, g0, g1); break;
    default: break;
  }
}

}  // namespace

void gemm_f16_rows(const WeightView& w, const float* x, int64_t n, float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t g1 = (r1 + kGemmF16GroupRows - 1) / kGemmF16GroupRows;
  for (int64_t g = r0 / kGemmF16GroupRows; g < g1; g += kBlockGroups) block(w, x, n, y, ldy, g, std::min(g1, g + kBlockGroups));
}

#else   // not x86-64: never supported, never called
void gemm_f16_rows(const WeightView&, const float*, int64_t, float*, int64_t, int64_t, int64_t) {}
#endif

}  // namespace shardlm
