// F16 x f32 register-tiled products with AVX2 + FMA + F16C (gemm-f16.h has the math
// and the tile shapes).
//
// The library is compiled for the x86-64 baseline: the tile functions carry a target
// attribute and are only reached when gemm_f16_supported().
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

#if defined(__x86_64__)
namespace {

// Rows per block: the block's weights (kBlockRows * cols * 2 bytes) stay in L2 while
// every token passes over them.
constexpr int64_t kBlockRows = 32;

SHARDLM_F16 inline __m256 f16x8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// The fixed lane tree of gemm-f16.h.
SHARDLM_F16 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // l + (l + 4)
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));                                           // l + (l + 2)
  s = _mm_add_ss(s, _mm_movehdup_ps(s));                                            // 0 + 1
  return _mm_cvtss_f32(s);
}

// y[t * ldy + r] for R rows at w (rb bytes apart) and T tokens at x (cols apart).
template <int R, int T>
SHARDLM_F16 void tile(const uint8_t* w, size_t rb, const float* x, int64_t cols, float* y, int64_t ldy) {
  __m256 acc[R][T];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  const int64_t full = cols & ~int64_t{7};
  for (int64_t k = 0; k < full; k += 8) {
    __m256 xv[T];
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(x + t * cols + k);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 wv = f16x8(w + r * rb + 2 * k);
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  if (full < cols) {  // the tail: one more step on zero-padded copies
    const int64_t tail = cols - full;
    alignas(32) float xt[T][8] = {};
    alignas(16) uint8_t wt[16] = {};
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) std::memcpy(xt[t], x + t * cols + full, static_cast<size_t>(tail) * 4);
    __m256 xv[T];
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) xv[t] = _mm256_load_ps(xt[t]);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      std::memcpy(wt, w + r * rb + 2 * full, static_cast<size_t>(tail) * 2);
      const __m256 wv = f16x8(wt);
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) y[t * ldy + r] = hsum(acc[r][t]);
}

// Rows [a, b) against tokens [t0, t0 + T): R rows at a time, then one at a time.
template <int R, int T>
SHARDLM_F16 void rows_tile(const WeightView& w, const float* x, int64_t t0, float* y, int64_t ldy, int64_t a,
                           int64_t b) {
  const float* xt = x + t0 * w.cols;
  float* yt = y + t0 * ldy;
  int64_t r = a;
  for (; r + R <= b; r += R) tile<R, T>(w.data + r * w.row_bytes, w.row_bytes, xt, w.cols, yt + r, ldy);
  for (; r < b; ++r) tile<1, T>(w.data + r * w.row_bytes, w.row_bytes, xt, w.cols, yt + r, ldy);
}

SHARDLM_F16 void block(const WeightView& w, const float* x, int64_t n, float* y, int64_t ldy, int64_t a, int64_t b) {
  if (n == 1) {
    rows_tile<8, 1>(w, x, 0, y, ldy, a, b);
    return;
  }
  int64_t t = 0;
  for (; t + 3 <= n; t += 3) rows_tile<4, 3>(w, x, t, y, ldy, a, b);
  if (n - t == 2) rows_tile<6, 2>(w, x, t, y, ldy, a, b);
  if (n - t == 1) rows_tile<8, 1>(w, x, t, y, ldy, a, b);
}

}  // namespace

void gemm_f16_rows(const WeightView& w, const float* x, int64_t n, float* y, int64_t ldy, int64_t r0, int64_t r1) {
  for (int64_t a = r0; a < r1; a += kBlockRows) block(w, x, n, y, ldy, a, std::min(r1, a + kBlockRows));
}

#else   // not x86-64: never supported, never called
void gemm_f16_rows(const WeightView&, const float*, int64_t, float*, int64_t, int64_t, int64_t) {}
#endif

}  // namespace shardlm
