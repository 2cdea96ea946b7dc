// AVX2 (+FMA, F16C) vec-dot kernels and activation quantizers.
//
// The library is compiled for the x86-64 baseline: every function here carries
// SHARDLM_AVX2 (a target attribute) and is only reached through vec-dot.cpp when
// cpu_features() reports AVX2, FMA and F16C. No standard-library template is
// instantiated in this file (an out-of-line copy built for AVX2 could be picked by the
// linker for other files).
//
// Integer products use _mm256_maddubs_epi16 (u8 x i8 -> pairs summed to i16). No pair
// can saturate: |weight code| <= 128 (Q8_0, via sign transfer) or <= 63 (others) and
// |activation code| <= 127 gives at most 2*128*127 = 32512.
#include "shardlm/kernels/vec-dot.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <cstring>

#include "shardlm/kernels/quant.h"

#define SHARDLM_AVX2 __attribute__((target("avx2,fma,f16c")))
#define SHARDLM_UNROLL _Pragma("GCC unroll 8")

namespace shardlm {

namespace {

SHARDLM_AVX2 inline int ld_u16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return h;
}
SHARDLM_AVX2 inline float ld_f16(const uint8_t* p) { return _cvtsh_ss(static_cast<unsigned short>(ld_u16(p))); }
SHARDLM_AVX2 inline float ld_f32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}
SHARDLM_AVX2 inline __m256i ld256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
SHARDLM_AVX2 inline __m128i ld128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

SHARDLM_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
SHARDLM_AVX2 inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}
SHARDLM_AVX2 inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- Q8_0, Q4_0, Q5_0, Q4_1, Q5_1: 8 blocks at a time, against prepared activations ---
//
// The activations are quantized into groups of 8 blocks (256 elements, 320 bytes):
//   q[256] int8 codes in element order | dx[8] f32 block scales (the f16 value a standard
//   block stores) | cx[8] f32, for act Q8_0: -8 * dx * sum(q) (Q4_0 codes 0..15 stand
//   for code - 8; Q5_0 codes 0..31 for code - 16, i.e. twice this term); for act Q8_1:
//   the block's s = d * sum(q) (the f16 value a standard Q8_1 block stores).
// A trailing partial group is padded with zero blocks (and the weights with zero blocks
// copied to the stack). Codes are the bytes the standard quantizer writes.
//
// Q4_1, Q5_0 and Q5_1 use these groups rather than the standard Q8_0 / Q8_1 blocks:
// the activation is prepared once per vector, so each weight row then gets its 8 scale
// products with one vector multiply, its offset terms (the -8/-16 codes or the min
// times s) with one FMA per 8 blocks instead of a per-block sum or sign transfer, and
// no f16 conversion of activation scales per row. Measured on a Zen 4 EPYC (Q4_1,
// 2048x5632, cache-resident): a per-block kernel on standard Q8_1 blocks 9-10 GB/s,
// this one 16-18 GB/s.
constexpr int64_t kGroup = 256;
constexpr size_t kGroupBytes = 320;

SHARDLM_AVX2 void quant_q8_0(const float* x, void* vy, int64_t n);  // standard blocks (below)
SHARDLM_AVX2 void quant_q8_1(const float* x, void* vy, int64_t n);

// kQ81: the codes, scales and s of Q8_1 blocks; otherwise Q8_0 with cx = -8 dx sum(q).
template <bool kQ81>
SHARDLM_AVX2 void quant_prepared(const float* x, void* vy, int64_t n) {
  constexpr int kB = kQ81 ? 36 : 34, kQ = kQ81 ? 4 : 2;  // standard block bytes, codes offset
  auto* y = static_cast<uint8_t*>(vy);
  const int64_t nb = n / 32;
  for (int64_t g = 0; g * 8 < nb; ++g, y += kGroupBytes) {
    uint8_t blk[8 * kB] = {};
    const int64_t len = 32 * (nb - 8 * g < 8 ? nb - 8 * g : 8);
    if constexpr (kQ81)
      quant_q8_1(x + kGroup * g, blk, len);
    else
      quant_q8_0(x + kGroup * g, blk, len);
    float dx[8], cx[8];
    for (int k = 0; k < 8; ++k) {
      const uint8_t* q = blk + kB * k + kQ;
      dx[k] = ld_f16(blk + kB * k);
      if constexpr (kQ81) {
        cx[k] = ld_f16(blk + kB * k + 2);
      } else {
        const __m256i s16 = _mm256_add_epi16(_mm256_cvtepi8_epi16(ld128(q)), _mm256_cvtepi8_epi16(ld128(q + 16)));
        const int sum = hsum_i32(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
        cx[k] = static_cast<float>(-8 * sum) * dx[k];
      }
      std::memcpy(y + 32 * k, q, 32);
    }
    std::memcpy(y + 256, dx, 32);
    std::memcpy(y + 288, cx, 32);
  }
}

// The 8 f16 scales at wb + stride * k (k < 8) as floats.
template <int kStride>
SHARDLM_AVX2 inline __m256 scales8(const uint8_t* wb) {
  __m128i h = _mm_cvtsi32_si128(static_cast<int>(ld_u16(wb)));
  h = _mm_insert_epi16(h, static_cast<int>(ld_u16(wb + kStride)), 1);
  h = _mm_insert_epi16(h, static_cast<int>(ld_u16(wb + 2 * kStride)), 2);
  h = _mm_insert_epi16(h, static_cast<int>(ld_u16(wb + 3 * kStride)), 3);
  h = _mm_insert_epi16(h, static_cast<int>(ld_u16(wb + 4 * kStride)), 4);
  h = _mm_insert_epi16(h, static_cast<int>(ld_u16(wb + 5 * kStride)), 5);
  h = _mm_insert_epi16(h, static_cast<int>(ld_u16(wb + 6 * kStride)), 6);
  h = _mm_insert_epi16(h, static_cast<int>(ld_u16(wb + 7 * kStride)), 7);
  return _mm256_cvtph_ps(h);
}

// 8 weight blocks (Q8_0: 272 bytes, Q4_0: 144 bytes at wb) against one prepared group.
template <bool kQ4>
SHARDLM_AVX2 inline void q8_group(const uint8_t* wb, const uint8_t* xg, __m256* acc, __m256& accc) {
  constexpr int kBytes = kQ4 ? 18 : 34;
  const __m256 dw = scales8<kBytes>(wb);
  alignas(32) float s[8];
  _mm256_store_ps(s, _mm256_mul_ps(dw, _mm256_loadu_ps(reinterpret_cast<const float*>(xg + 256))));
  if constexpr (kQ4) accc = _mm256_fmadd_ps(dw, _mm256_loadu_ps(reinterpret_cast<const float*>(xg + 288)), accc);
  const __m256i ones = _mm256_set1_epi16(1);
  SHARDLM_UNROLL for (int k = 0; k < 8; ++k) {
    const __m256i xv = ld256(xg + 32 * k);
    __m256i p16;
    if constexpr (kQ4) {  // codes 0..15 (the -8 comes back through cx)
      const __m128i v = ld128(wb + 18 * k + 2);
      const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
      p16 = _mm256_maddubs_epi16(q, xv);
    } else {  // |w| times x with w's sign
      const __m256i wv = ld256(wb + 34 * k + 2);
      p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));
    }
    acc[k & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones)), _mm256_broadcast_ss(&s[k]), acc[k & 1]);
  }
}

// One row as groups of 8 weight blocks of kBlockBytes: Group(blocks, prepared group,
// acc, accc) per group, the last partial group padded with zero blocks. Shared by the
// Q8_0/Q4_0 and Q4_1/Q5_0/Q5_1 kernels.
template <int64_t kBlockBytes, void (*Group)(const uint8_t*, const uint8_t*, __m256*, __m256&)>
SHARDLM_AVX2 void group_row(int64_t n, float* out, const void* vw, const void* vx) {
  const auto* w = static_cast<const uint8_t*>(vw);
  const auto* x = static_cast<const uint8_t*>(vx);
  const int64_t nb = n / 32, ng = nb / 8;
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  __m256 accc = _mm256_setzero_ps();
  for (int64_t g = 0; g < ng; ++g) Group(w + 8 * kBlockBytes * g, x + kGroupBytes * g, acc, accc);
  if (nb % 8) {  // the last blocks, padded with zero blocks
    uint8_t wt[8 * kBlockBytes] = {};
    std::memcpy(wt, w + 8 * kBlockBytes * ng, static_cast<size_t>(kBlockBytes * (nb % 8)));
    Group(wt, x + kGroupBytes * ng, acc, accc);
  }
  *out = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), accc));
}

// Q4_1 (20 B: f16 d | f16 m | qs[16]), Q5_0 (22 B: f16 d | u32 qh | qs[16]) and Q5_1
// (24 B: f16 d | f16 m | u32 qh | qs[16]): block bytes and the offsets of qh and qs.
enum class Leg { Q4_1, Q5_0, Q5_1 };
template <Leg T>
constexpr int kLegBytes = T == Leg::Q4_1 ? 20 : T == Leg::Q5_0 ? 22 : 24;
template <Leg T>
constexpr int kLegQh = T == Leg::Q5_0 ? 2 : 4;  // Q5 types only
template <Leg T>
constexpr int kLegQs = T == Leg::Q4_1 ? 4 : T == Leg::Q5_0 ? 6 : 8;

SHARDLM_AVX2 inline int ld_i32(const uint8_t* p) {
  int v;
  std::memcpy(&v, p, 4);
  return v;
}

// 64-bit chunks 0, 2, 1, 3 of v.
SHARDLM_AVX2 inline __m256 pairs_in_order(__m256 v) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), _MM_SHUFFLE(3, 1, 2, 0)));
}

// The 8 (d, m) f16 pairs (4 bytes at wb + stride * k, k < 8) as floats.
template <int kStride>
SHARDLM_AVX2 inline void pairs8(const uint8_t* wb, __m256* d, __m256* m) {
  const __m256 a = _mm256_cvtph_ps(
      _mm_setr_epi32(ld_i32(wb), ld_i32(wb + kStride), ld_i32(wb + 2 * kStride), ld_i32(wb + 3 * kStride)));
  const __m256 b = _mm256_cvtph_ps(
      _mm_setr_epi32(ld_i32(wb + 4 * kStride), ld_i32(wb + 5 * kStride), ld_i32(wb + 6 * kStride), ld_i32(wb + 7 * kStride)));
  // a = d0 m0 d1 m1 | d2 m2 d3 m3, b = d4 m4 d5 m5 | d6 m6 d7 m7: even lanes to d0 d1 d4 d5 |
  // d2 d3 d6 d7, then the 64-bit pairs back in order (odd lanes: the same for m).
  *d = pairs_in_order(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
  *m = pairs_in_order(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

// 0x10 in byte e of the result where bit e of qh is set (the 5th bit of element e).
SHARDLM_AVX2 inline __m256i qh_bytes(int qh) {
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  const __m256i b = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(qh), spread), bit);
  return _mm256_and_si256(_mm256_cmpeq_epi8(b, bit), _mm256_set1_epi8(0x10));
}

// 8 Q4_1 / Q5_0 / Q5_1 weight blocks against one prepared group. The codes are taken
// unsigned (0..15, 0..31); Q5_0's -16 comes back through 2 * dw * cx, the minimum of
// Q4_1 / Q5_1 through m * s as in the scalar kernel.
template <Leg T>
SHARDLM_AVX2 inline void leg_group(const uint8_t* wb, const uint8_t* xg, __m256* acc, __m256& accc) {
  constexpr int kBytes = kLegBytes<T>;
  const __m256 cx = _mm256_loadu_ps(reinterpret_cast<const float*>(xg + 288));
  __m256 dw;
  if constexpr (T == Leg::Q5_0) {
    dw = scales8<kBytes>(wb);
    accc = _mm256_fmadd_ps(_mm256_add_ps(dw, dw), cx, accc);
  } else {
    __m256 mw;
    pairs8<kBytes>(wb, &dw, &mw);
    accc = _mm256_fmadd_ps(mw, cx, accc);
  }
  alignas(32) float s[8];
  _mm256_store_ps(s, _mm256_mul_ps(dw, _mm256_loadu_ps(reinterpret_cast<const float*>(xg + 256))));
  const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  SHARDLM_UNROLL for (int k = 0; k < 8; ++k) {
    const uint8_t* b = wb + kBytes * k;
    const __m128i v = ld128(b + kLegQs<T>);
    __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), m4);
    if constexpr (T != Leg::Q4_1) q = _mm256_or_si256(q, qh_bytes(ld_i32(b + kLegQh<T>)));
    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, ld256(xg + 32 * k)), ones);
    acc[k & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcast_ss(&s[k]), acc[k & 1]);
  }
}

// ---- Q4_K and Q5_K x Q8_K ---------------------------------------------------------------

// The 8 six-bit scales (low u64) and mins (high u64) of a Q4_K/Q5_K super-block as bytes:
// j < 4: sc = s[j] & 63, mn = s[j+4] & 63; j >= 4: low 4 bits from s[j+4] (low/high
// nibble), top 2 bits from bits 6-7 of s[j-4] (scales) or s[j] (mins).
SHARDLM_AVX2 inline __m128i k4_scales_mins(const uint8_t* s) {
  // As dwords a0 a1 a2 (16 bytes read, the last 4 ignored): a0 a2 a1 a2>>4 masked to
  // 3F 0F 3F 0F bytes, or'ed with (a0 a1) >> 2 masked to 30 bytes in dwords 1 and 3.
  const __m128i v = ld128(s);
  const __m128i p = _mm_srlv_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)), _mm_setr_epi32(0, 0, 0, 4));
  const __m128i q = _mm_srli_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)), 2);
  return _mm_or_si128(_mm_and_si128(p, _mm_setr_epi32(0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F)),
                      _mm_and_si128(q, _mm_setr_epi32(0, 0x30303030, 0, 0x30303030)));
}

// A 256-bit vector holding word j of v's low 128 bits in every 16-bit lane.
SHARDLM_AVX2 inline __m256i word_bcast(__m256i v, int j) {
  return _mm256_shuffle_epi8(v, _mm256_set1_epi16(static_cast<short>(((2 * j + 1) << 8) | (2 * j))));
}

// The 5th bit of Q5_K sub-block j (bit j of each qh byte) as 0x10 in each byte: bit j
// moves to bit 4 by a 16-bit shift that never carries a bit across bytes into bit 4.
SHARDLM_AVX2 inline __m256i k5_bits(__m256i qh, int j) {
  const __m256i t = j <= 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4);
  return _mm256_and_si256(t, _mm256_set1_epi8(0x10));
}

// One Q4_K (kQ5 false) or Q5_K super-block (144 / 176 bytes at wb) against one Q8_K block.
template <bool kQ5>
SHARDLM_AVX2 inline void k45_step(const uint8_t* wb, const uint8_t* xb, __m256i bsums, float dx, __m256& acc) {
  const __m128i sm = k4_scales_mins(wb + 4);
  const __m256i mins = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));  // mn0,mn0,mn1,mn1,...
  const __m256i msum = _mm256_madd_epi16(bsums, mins);                      // mn_j * sum(x in sub j)
  const __m256i scb = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));  // sc0..sc7 in each half
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const uint8_t* q = wb + (kQ5 ? 48 : 16);
  const uint8_t* qx = xb + 4;
  __m256i qh = _mm256_setzero_si256();
  if constexpr (kQ5) qh = ld256(wb + 16);
  __m256i isum = _mm256_setzero_si256();
  SHARDLM_UNROLL for (int c = 0; c < 4; ++c) {
    const __m256i v = ld256(q + 32 * c);
    __m256i lo = _mm256_and_si256(v, m4);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    if constexpr (kQ5) {  // sub-blocks 2c (low nibbles) and 2c + 1 (high)
      lo = _mm256_or_si256(lo, k5_bits(qh, 2 * c));
      hi = _mm256_or_si256(hi, k5_bits(qh, 2 * c + 1));
    }
    const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, ld256(qx + 64 * c)), word_bcast(scb, 2 * c));
    const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, ld256(qx + 64 * c + 32)), word_bcast(scb, 2 * c + 1));
    isum = _mm256_add_epi32(isum, _mm256_add_epi32(p0, p1));
  }
  acc = _mm256_fmadd_ps(_mm256_set1_ps(ld_f16(wb) * dx), _mm256_cvtepi32_ps(isum), acc);
  acc = _mm256_fnmadd_ps(_mm256_set1_ps(ld_f16(wb + 2) * dx), _mm256_cvtepi32_ps(msum), acc);
}

template <bool kQ5, int R>
SHARDLM_AVX2 void k45_rows(int64_t n, float* out, const uint8_t* w, size_t rb, const uint8_t* x) {
  constexpr int64_t kBytes = kQ5 ? 176 : 144;
  __m256 acc[R];
  SHARDLM_UNROLL for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const uint8_t* xb = x + 292 * i;
    const __m256i bsums = ld256(xb + 260);
    const float dx = ld_f32(xb);
    SHARDLM_UNROLL for (int r = 0; r < R; ++r) k45_step<kQ5>(w + r * rb + kBytes * i, xb, bsums, dx, acc[r]);
  }
  SHARDLM_UNROLL for (int r = 0; r < R; ++r) out[r] = hsum(acc[r]);
}
template <int R>
SHARDLM_AVX2 void q4_k_rows(int64_t n, float* out, const uint8_t* w, size_t rb, const uint8_t* x) {
  k45_rows<false, R>(n, out, w, rb, x);
}
template <int R>
SHARDLM_AVX2 void q5_k_rows(int64_t n, float* out, const uint8_t* w, size_t rb, const uint8_t* x) {
  k45_rows<true, R>(n, out, w, rb, x);
}

// ---- Q6_K x Q8_K ------------------------------------------------------------------------

SHARDLM_AVX2 inline void q6_k_step(const uint8_t* wb, const uint8_t* xb, __m256i bsums, float dx, __m256& acc) {
  const __m256i sc16 = _mm256_cvtepi8_epi16(ld128(wb + 192));
  // sum (q - 32) * x = sum q * x - 32 * sum x; the second part from the 16-sums of x.
  __m256i isum = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(bsums, sc16), 5));
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i split = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,  //
                                         2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
  const uint8_t* qx = xb + 4;
  SHARDLM_UNROLL for (int h = 0; h < 2; ++h) {
    const __m256i l0 = ld256(wb + 64 * h);
    const __m256i l1 = ld256(wb + 64 * h + 32);
    const __m256i hb = ld256(wb + 128 + 32 * h);
    __m256i q[4];
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(0x03)), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(0x0C)), 2));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hb, _mm256_set1_epi8(0x30)));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_srli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(static_cast<char>(0xC0))), 2));
    SHARDLM_UNROLL for (int k = 0; k < 4; ++k) {
      // groups 8h+2k (low 16 elements) and 8h+2k+1 (high 16): dword 4h+k of sc16.
      const __m256i s = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(4 * h + k)), split);
      const __m256i p = _mm256_maddubs_epi16(q[k], ld256(qx + 128 * h + 32 * k));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, s));
    }
  }
  acc = _mm256_fmadd_ps(_mm256_set1_ps(ld_f16(wb + 208) * dx), _mm256_cvtepi32_ps(isum), acc);
}

template <int R>
SHARDLM_AVX2 void q6_k_rows(int64_t n, float* out, const uint8_t* w, size_t rb, const uint8_t* x) {
  __m256 acc[R];
  SHARDLM_UNROLL for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const uint8_t* xb = x + 292 * i;
    const __m256i bsums = ld256(xb + 260);
    const float dx = ld_f32(xb);
    SHARDLM_UNROLL for (int r = 0; r < R; ++r) q6_k_step(w + r * rb + 210 * i, xb, bsums, dx, acc[r]);
  }
  SHARDLM_UNROLL for (int r = 0; r < R; ++r) out[r] = hsum(acc[r]);
}

// ---- F32 / F16 / BF16 x F32 ---------------------------------------------------------------

enum class Fp { F32, F16, BF16 };

template <Fp T>
SHARDLM_AVX2 inline __m256 load8(const uint8_t* w, int64_t i) {
  if constexpr (T == Fp::F32) return _mm256_loadu_ps(reinterpret_cast<const float*>(w) + i);
  if constexpr (T == Fp::F16) return _mm256_cvtph_ps(ld128(w + 2 * i));
  if constexpr (T == Fp::BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(ld128(w + 2 * i)), 16));
}

template <Fp T>
SHARDLM_AVX2 inline float load1(const uint8_t* w, int64_t i) {
  if constexpr (T == Fp::F32) return reinterpret_cast<const float*>(w)[i];
  if constexpr (T == Fp::F16) return ld_f16(w + 2 * i);
  if constexpr (T == Fp::BF16) {
    uint16_t h;
    std::memcpy(&h, w + 2 * i, 2);
    const uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
}

template <Fp T, int R>
SHARDLM_AVX2 void fp_rows(int64_t n, float* out, const uint8_t* w, size_t rb, const float* x) {
  constexpr int U = R == 1 ? 4 : 1;
  __m256 acc[U][R];
  SHARDLM_UNROLL for (int u = 0; u < U; ++u) SHARDLM_UNROLL for (int r = 0; r < R; ++r) acc[u][r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 * U <= n; i += 8 * U) {
    SHARDLM_UNROLL for (int u = 0; u < U; ++u) {
      const __m256 xv = _mm256_loadu_ps(x + i + 8 * u);
      SHARDLM_UNROLL for (int r = 0; r < R; ++r)
        acc[u][r] = _mm256_fmadd_ps(load8<T>(w + r * rb, i + 8 * u), xv, acc[u][r]);
    }
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    SHARDLM_UNROLL for (int r = 0; r < R; ++r) acc[0][r] = _mm256_fmadd_ps(load8<T>(w + r * rb, i), xv, acc[0][r]);
  }
  SHARDLM_UNROLL for (int r = 0; r < R; ++r) {
    __m256 s = acc[0][r];
    SHARDLM_UNROLL for (int u = 1; u < U; ++u) s = _mm256_add_ps(s, acc[u][r]);
    float t = hsum(s);
    for (int64_t j = i; j < n; ++j) t += load1<T>(w + r * rb, j) * x[j];
    out[r] = t;
  }
}

// ---- entry points with the VecDotFn / VecDot4Fn signatures ---------------------------------

#define SHARDLM_ENTRY(name, impl, XT)                                                            \
  SHARDLM_AVX2 void name##_1(int64_t n, float* out, const void* w, const void* x) {              \
    impl<1>(n, out, static_cast<const uint8_t*>(w), 0, static_cast<const XT*>(x));               \
  }                                                                                              \
  SHARDLM_AVX2 void name##_4(int64_t n, float* out, const void* w, size_t rb, const void* x) {   \
    impl<4>(n, out, static_cast<const uint8_t*>(w), rb, static_cast<const XT*>(x));              \
  }

template <int R>
SHARDLM_AVX2 void f32_rows(int64_t n, float* out, const uint8_t* w, size_t rb, const float* x) {
  fp_rows<Fp::F32, R>(n, out, w, rb, x);
}
template <int R>
SHARDLM_AVX2 void f16_rows(int64_t n, float* out, const uint8_t* w, size_t rb, const float* x) {
  fp_rows<Fp::F16, R>(n, out, w, rb, x);
}
template <int R>
SHARDLM_AVX2 void bf16_rows(int64_t n, float* out, const uint8_t* w, size_t rb, const float* x) {
  fp_rows<Fp::BF16, R>(n, out, w, rb, x);
}

SHARDLM_ENTRY(q4_k, q4_k_rows, uint8_t)
SHARDLM_ENTRY(q5_k, q5_k_rows, uint8_t)
SHARDLM_ENTRY(q6_k, q6_k_rows, uint8_t)
SHARDLM_ENTRY(f32, f32_rows, float)
SHARDLM_ENTRY(f16, f16_rows, float)
SHARDLM_ENTRY(bf16, bf16_rows, float)
#undef SHARDLM_ENTRY

// ---- activation quantizers (same bytes as the scalar ones) -----------------------------

SHARDLM_AVX2 inline float amax_of(const float* x, int64_t len) {
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 m = _mm256_setzero_ps();
  for (int64_t j = 0; j < len; j += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + j), absmask));
  return hmax(m);
}

// round-half-even(x[0..31] * id) as 32 int8 (cvtps2dq rounds to nearest even).
SHARDLM_AVX2 inline __m256i round32(const float* x, __m256 id) {
  const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
  const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
  const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
  const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
  // packs works per 128-bit half: restore element order with a dword permutation.
  const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

SHARDLM_AVX2 void quant_q8_0(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<uint8_t*>(vy);
  for (int64_t i = 0; i < n / 32; ++i, x += 32, y += 34) {
    const float d = amax_of(x, 32) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = fp32_to_fp16(d);
    std::memcpy(y, &h, 2);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + 2), round32(x, _mm256_set1_ps(id)));
  }
}

// Q8_1: as Q8_0 plus s = f16(d * sum q), d the stored f16 value (as the scalar one).
SHARDLM_AVX2 void quant_q8_1(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<uint8_t*>(vy);
  for (int64_t i = 0; i < n / 32; ++i, x += 32, y += 36) {
    const float d = amax_of(x, 32) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = fp32_to_fp16(d);
    const __m256i q = round32(x, _mm256_set1_ps(id));
    const __m256i s16 = _mm256_add_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(q)),
                                         _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1)));
    const int sum = hsum_i32(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
    const uint16_t hs = fp32_to_fp16(_cvtsh_ss(h) * static_cast<float>(sum));
    std::memcpy(y, &h, 2);
    std::memcpy(y + 2, &hs, 2);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + 4), q);
  }
}

SHARDLM_AVX2 void quant_q8_k(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<uint8_t*>(vy);
  for (int64_t i = 0; i < n / 256; ++i, x += 256, y += 292) {
    const float d = amax_of(x, 256) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    std::memcpy(y, &d, 4);
    const __m256 idv = _mm256_set1_ps(id);
    for (int c = 0; c < 8; ++c) {
      const __m256i q = round32(x + 32 * c, idv);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + 4 + 32 * c), q);
      // sums of the two 16-element groups: widen to i16 and add in pairs.
      const __m256i s32 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(q)), _mm256_set1_epi16(1));
      const __m256i t32 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1)), _mm256_set1_epi16(1));
      const int16_t s0 = static_cast<int16_t>(hsum_i32(s32)), s1 = static_cast<int16_t>(hsum_i32(t32));
      std::memcpy(y + 260 + 4 * c, &s0, 2);
      std::memcpy(y + 262 + 4 * c, &s1, 2);
    }
  }
}

}  // namespace

namespace vec_dot_detail {

bool avx2_kernel(DType weight, VecDotKernel* k) {
  switch (weight) {
    case DType::Q8_0:
      *k = {weight, DType::Q8_0, 32, group_row<34, q8_group<false>>, nullptr, quant_prepared<false>, Isa::Avx2, kGroup, kGroupBytes};
      return true;
    case DType::Q4_0:
      *k = {weight, DType::Q8_0, 32, group_row<18, q8_group<true>>, nullptr, quant_prepared<false>, Isa::Avx2, kGroup, kGroupBytes};
      return true;
    case DType::Q5_0:
      *k = {weight, DType::Q8_0, 32, group_row<kLegBytes<Leg::Q5_0>, leg_group<Leg::Q5_0>>, nullptr, quant_prepared<false>, Isa::Avx2, kGroup, kGroupBytes};
      return true;
    case DType::Q4_1:
      *k = {weight, DType::Q8_1, 32, group_row<kLegBytes<Leg::Q4_1>, leg_group<Leg::Q4_1>>, nullptr, quant_prepared<true>, Isa::Avx2, kGroup, kGroupBytes};
      return true;
    case DType::Q5_1:
      *k = {weight, DType::Q8_1, 32, group_row<kLegBytes<Leg::Q5_1>, leg_group<Leg::Q5_1>>, nullptr, quant_prepared<true>, Isa::Avx2, kGroup, kGroupBytes};
      return true;
    case DType::Q4_K: *k = {weight, DType::Q8_K, 256, q4_k_1, q4_k_4, nullptr, Isa::Avx2}; return true;
    case DType::Q5_K: *k = {weight, DType::Q8_K, 256, q5_k_1, q5_k_4, nullptr, Isa::Avx2}; return true;
    case DType::Q6_K: *k = {weight, DType::Q8_K, 256, q6_k_1, q6_k_4, nullptr, Isa::Avx2}; return true;
    case DType::F32: *k = {weight, DType::F32, 1, f32_1, f32_4, nullptr, Isa::Avx2}; return true;
    case DType::F16: *k = {weight, DType::F32, 1, f16_1, f16_4, nullptr, Isa::Avx2}; return true;
    case DType::BF16: *k = {weight, DType::F32, 1, bf16_1, bf16_4, nullptr, Isa::Avx2}; return true;
    default: return false;
  }
}

QuantizeActFn avx2_quantizer(DType act) {
  switch (act) {
    case DType::Q8_0: return quant_q8_0;
    case DType::Q8_1: return quant_q8_1;
    case DType::Q8_K: return quant_q8_k;
    default: return nullptr;
  }
}

}  // namespace vec_dot_detail
}  // namespace shardlm

#else  // not x86-64: no AVX2 kernels

namespace shardlm::vec_dot_detail {
bool avx2_kernel(DType, VecDotKernel*) { return false; }
QuantizeActFn avx2_quantizer(DType) { return nullptr; }
}  // namespace shardlm::vec_dot_detail

#endif
