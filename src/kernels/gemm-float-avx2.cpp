// F16 / BF16 / F32 x f32 register-tiled products with AVX2 + FMA + F16C over the Rows8
// layout (gemm-float.h has the layout, the math and the tile shapes).
//
// The library is compiled for the x86-64 baseline: the tile functions carry a target
// attribute and are only reached for weights packed where gemm_float_supported().
#include "shardlm/kernels/gemm-float.h"

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
#define SHARDLM_FLOAT __attribute__((target("avx2,fma,f16c")))
#endif

namespace shardlm {

namespace {
// Bytes of one value of a float type Rows8 holds (0: not one).
size_t elem_bytes(DType t) { return t == DType::F32 ? 4 : t == DType::F16 || t == DType::BF16 ? 2 : 0; }
}  // namespace

bool gemm_float_supported(DType t) {
#if defined(__x86_64__)
  return elem_bytes(t) != 0 && best_isa(cpu_features()) == Isa::Avx2;
#else
  (void)t;
  return false;
#endif
}

size_t gemm_float_packed_weight_bytes(DType t, int64_t rows, int64_t cols) {
  return static_cast<size_t>((rows + kGemmFloatGroupRows - 1) / kGemmFloatGroupRows * cols) * kGemmFloatGroupRows *
         elem_bytes(t);
}

void gemm_float_pack_weights(const WeightView& w, uint8_t* dst) {
  const size_t e = elem_bytes(w.type), col = kGemmFloatGroupRows * e;
  const int64_t groups = (w.rows + kGemmFloatGroupRows - 1) / kGemmFloatGroupRows;
  for (int64_t g = 0; g < groups; ++g) {
    uint8_t* o = dst + static_cast<size_t>(g * w.cols) * col;
    for (int l = 0; l < kGemmFloatGroupRows; ++l) {
      const int64_t r = g * kGemmFloatGroupRows + l;
      if (r >= w.rows) {
        for (int64_t k = 0; k < w.cols; ++k) std::memset(o + k * col + e * l, 0, e);
        continue;
      }
      const uint8_t* src = w.data + r * w.row_bytes;
      for (int64_t k = 0; k < w.cols; ++k) std::memcpy(o + k * col + e * l, src + e * k, e);
    }
  }
}

#if defined(__x86_64__)
namespace {

// Groups per block: the block's weights (64 rows * cols * 2 or 4 bytes) stay in L2 while
// every token passes over them (64 F16 rows measured best of 32-256 on Zen 3, 2048 and
// 5632 columns; 6 tokens x 2 groups the best tile of 6 x 2, 5 x 2, 4 x 3, 3 x 4). The
// decode tile needs the block's 8 groups: 8 FMA chains hide the FMA latency.
constexpr int64_t kBlockGroups = 8;

enum class Fp { F16, BF16, F32 };
template <Fp E>
constexpr size_t kCol = E == Fp::F32 ? 32 : 16;  // bytes of one column of a group

// The 8 rows' values of one column as f32.
template <Fp E>
SHARDLM_FLOAT inline __m256 load8(const uint8_t* p) {
  if constexpr (E == Fp::F32)
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  else if constexpr (E == Fp::F16)
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  else  // bf16 = the high half of an f32
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
}

// y[t * ldy + 8g + l] for G groups at w (their first) and T tokens at x (cols apart);
// nr = valid rows from the tile's first (stores stop there).
template <Fp E, int G, int T>
SHARDLM_FLOAT void tile(const uint8_t* w, int64_t cols, const float* x, float* y, int64_t ldy, int64_t nr) {
  __m256 acc[G][T];
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[g][t] = _mm256_setzero_ps();
  const size_t gs = static_cast<size_t>(cols) * kCol<E>;
  for (int64_t k = 0; k < cols; ++k) {
    __m256 wv[G];
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) wv[g] = load8<E>(w + g * gs + k * kCol<E>);
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
template <Fp E, int T, int G>
SHARDLM_FLOAT void tokens(const WeightView& w, const float* x, int64_t t0, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  const size_t gs = static_cast<size_t>(w.cols) * kCol<E>;
  const float* xt = x + t0 * w.cols;
  float* yt = y + t0 * ldy;
  int64_t g = g0;
  for (; g + G <= g1; g += G) tile<E, G, T>(w.data + g * gs, w.cols, xt, yt + 8 * g, ldy, w.rows - 8 * g);
  for (; g < g1; ++g) tile<E, 1, T>(w.data + g * gs, w.cols, xt, yt + 8 * g, ldy, w.rows - 8 * g);
}

template <Fp E>
SHARDLM_FLOAT void block(const WeightView& w, const float* x, int64_t n, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  int64_t t = 0;
  for (; t + 6 <= n; t += 6) tokens<E, 6, 2>(w, x, t, y, ldy, g0, g1);
  switch (n - t) {
    case 5: tokens<E, 5, 2>(w, x, t, y, ldy, g0, g1); break;
    case 4: tokens<E, 4, 2>(w, x, t, y, ldy, g0, g1); break;
    case 3: tokens<E, 3, 3>(w, x, t, y, ldy, g0, g1); break;
    case 2: tokens<E, 2, 4>(w, x, t, y, ldy, g0, g1); break;
    case 1: tokens<E, 1, 8>(w, x, t, y, ldy, g0, g1); break;
    default: break;
  }
}

}  // namespace

void gemm_float_rows(const WeightView& w, const float* x, int64_t n, float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t g1 = (r1 + kGemmFloatGroupRows - 1) / kGemmFloatGroupRows;
  for (int64_t g = r0 / kGemmFloatGroupRows; g < g1; g += kBlockGroups) {
    const int64_t ge = std::min(g1, g + kBlockGroups);
    switch (w.type) {
      case DType::F16: block<Fp::F16>(w, x, n, y, ldy, g, ge); break;
      case DType::BF16: block<Fp::BF16>(w, x, n, y, ldy, g, ge); break;
      default: block<Fp::F32>(w, x, n, y, ldy, g, ge); break;
    }
  }
}

#else   // not x86-64: never supported, never called
void gemm_float_rows(const WeightView&, const float*, int64_t, float*, int64_t, int64_t, int64_t) {}
#endif

}  // namespace shardlm
