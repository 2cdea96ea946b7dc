// 8-bit integer GEMM over stored 32-row panels with AVX2 (gemm-int8.h has the formulas
// and layouts; gemm-int8-avx2-tile.inc the register tile). The CPUs without AVX-512
// (AMD Zen 1-3, Intel clients) run prompts and every multi-row step through it, so a
// batch of B decode rows reads and unpacks each weight panel once.
//
// The library is compiled for the x86-64 baseline: every function here carries a
// target attribute and is only reached when gemm-int8.cpp finds AVX2 + FMA + F16C (and
// AVX-VNNI for the vpdpbusd copy) in cpu_features().
#include "kernels/gemm-int8-avx2.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define SHARDLM_AVX2 __attribute__((target("avx2,fma,f16c")))
#define SHARDLM_AVXVNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
#endif

namespace shardlm::gemm_int8_detail {

#if defined(__x86_64__)
namespace {

constexpr int kStepBytes = 128;  // one step of 4 codes for the 32 rows of a panel
// Bytes a panel's first tile prefetches ahead of the block it reads: 1-4 KiB measured
// on Zen 3 (tg128 Q4_0 +15 %, Q4_K_M +20 %), 2 KiB the best of them.
constexpr int64_t kAhead = 2048;

struct XView {
  const int8_t* q;
  const float* d;
  const float* s;
  const int32_t* z2;
  int64_t cols, nb;
};

XView x_view(const uint8_t* xp, int64_t n, int64_t cols) {
  const XLayout L(n, cols);
  return {reinterpret_cast<const int8_t*>(xp),     reinterpret_cast<const float*>(xp + L.d),
          reinterpret_cast<const float*>(xp + L.s), reinterpret_cast<const int32_t*>(xp + L.z2),
          cols,                                     L.nb};
}

SHARDLM_AVX2 inline __m256i ld256(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
// 8 f16 at p -> f32; 8 u8 at q -> f32.
SHARDLM_AVX2 inline __m256 f16x8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
SHARDLM_AVX2 inline __m256 u8x8(const uint8_t* q) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q))));
}

SHARDLM_AVX2 inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

SHARDLM_AVX2 inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// One token's 32-block: codes (round to nearest even, as _mm512_cvtps_epi32), dx, dx *
// sum q, -zp * sum q per half.
SHARDLM_AVX2 void pack_block(int zp, const float* xr, int8_t* q, float* d, float* s, int32_t* z2) {
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps();
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_loadu_ps(xr + 8 * k);
    amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
  }
  const float a = hmax(amax);
  const float db = a / 127.0f, id = a > 0 ? 127.0f / a : 0.0f;
  __m256i qi[4];
  for (int k = 0; k < 4; ++k) qi[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], _mm256_set1_ps(id)));
  // packs work within 128-bit lanes: dwords come out as 0 4 1 5 2 6 3 7 of the wanted order.
  const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(qi[0], qi[1]), _mm256_packs_epi32(qi[2], qi[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  const int sum_lo = hsum_i32(_mm256_add_epi32(qi[0], qi[1])), sum = sum_lo + hsum_i32(_mm256_add_epi32(qi[2], qi[3]));
  *d = db;
  *s = db * static_cast<float>(sum);
  z2[0] = -zp * sum_lo;
  z2[1] = -zp * (sum - sum_lo);
}

SHARDLM_AVX2 void pack_tokens(int zp, const float* x, int64_t n, int64_t cols, int64_t t0, int64_t t1, uint8_t* xp) {
  const XLayout L(n, cols);
  for (int64_t t = t0; t < t1; ++t)
    for (int64_t b = 0; b < L.nb; ++b)
      pack_block(zp, x + t * cols + b * kBlock, reinterpret_cast<int8_t*>(xp) + t * cols + b * kBlock,
                 reinterpret_cast<float*>(xp + L.d) + t * L.nb + b, reinterpret_cast<float*>(xp + L.s) + t * L.nb + b,
                 reinterpret_cast<int32_t*>(xp + L.z2) + 2 * (t * L.nb + b));
}

}  // namespace

namespace avx2 {
#define SHARDLM_TILE SHARDLM_AVX2
#define SHARDLM_TILE_VNNI 0
#include "gemm-int8-avx2-tile.inc"
#undef SHARDLM_TILE
#undef SHARDLM_TILE_VNNI
}  // namespace avx2

namespace avxvnni {
#define SHARDLM_TILE SHARDLM_AVXVNNI
#define SHARDLM_TILE_VNNI 1
#include "gemm-int8-avx2-tile.inc"
#undef SHARDLM_TILE
#undef SHARDLM_TILE_VNNI
}  // namespace avxvnni

void pack_x_avx2(int zp, const float* x, int64_t n, int64_t cols, int64_t t0, int64_t t1, uint8_t* xp) {
  pack_tokens(zp, x, n, cols, t0, t1, xp);
}

void rows_stored_avx2(const WeightView& w, size_t panel_bytes, const uint8_t* xp, int64_t n, float* y, int64_t ldy,
                      int64_t r0, int64_t r1, bool avx_vnni) {
  const XView x = x_view(xp, n, w.cols);
  if (avx_vnni)
    avxvnni::rows_stored(w, panel_bytes, x, n, y, ldy, r0, r1);
  else
    avx2::rows_stored(w, panel_bytes, x, n, y, ldy, r0, r1);
}

#else   // not x86-64: never called
void pack_x_avx2(int, const float*, int64_t, int64_t, int64_t, int64_t, uint8_t*) {}
void rows_stored_avx2(const WeightView&, size_t, const uint8_t*, int64_t, float*, int64_t, int64_t, int64_t, bool) {}
#endif

}  // namespace shardlm::gemm_int8_detail
