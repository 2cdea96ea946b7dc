// AVX-512 (F, BW, VL, DQ) vec-dot kernels, with and without AVX512-VNNI, and the
// activation quantizers.
//
// The library is compiled for the x86-64 baseline: every function here carries
// SHARDLM_AVX512 (a target attribute) and is only reached through vec-dot.cpp when
// cpu_features() reports AVX-512 F/BW/VL/DQ. The VNNI instructions (vpdpbusd,
// vpdpwssd) are emitted by inline asm only in the kVnni instantiations, so the
// non-VNNI kernels contain no VNNI instruction and the compiler never needs a VNNI
// target; the kVnni ones are only chosen when the CPU has AVX512-VNNI. No
// standard-library template is instantiated in this file.
//
// Value ranges: signed activation codes |q| <= 127. Unsigned weight codes are <= 63
// (Q4_0, Q4_1, Q5_0, Q5_1, K-quants), <= 128 (Q8_0 without VNNI: |w| with the sign
// moved to x) or <= 255 (Q8_0 with VNNI: w + 128, only in vpdpbusd, which does not
// saturate), so maddubs pairs never saturate (<= 32512) and i32 lane sums stay far
// below 2^31.
#include "shardlm/kernels/vec-dot.h"

#if defined(__x86_64__)

// GCC 12's AVX-512 headers initialize _mm*_undefined_* values from themselves, which
// -Wuninitialized reports wherever they are inlined (GCC PR 105593, fixed in 12.3/13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <cstring>

#include "shardlm/kernels/quant.h"

#define SHARDLM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define SHARDLM_UNROLL _Pragma("GCC unroll 8")

namespace shardlm {

namespace {

SHARDLM_AVX512 inline uint32_t ld_u16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return h;
}
SHARDLM_AVX512 inline float ld_f16(const uint8_t* p) { return _cvtsh_ss(static_cast<unsigned short>(ld_u16(p))); }
SHARDLM_AVX512 inline float ld_f32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}
SHARDLM_AVX512 inline __m512i ld512(const void* p) { return _mm512_loadu_si512(p); }
SHARDLM_AVX512 inline __m256i ld256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
SHARDLM_AVX512 inline __m128i ld128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
SHARDLM_AVX512 inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

SHARDLM_AVX512 inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

SHARDLM_AVX512 void quant_q8_0(const float* x, void* vy, int64_t n);  // standard Q8_0 blocks (below)
SHARDLM_AVX512 void quant_q8_1(const float* x, void* vy, int64_t n);  // standard Q8_1 blocks (below)

// acc + sum of 4 (u8 * i8) products per i32 lane.
template <bool kVnni>
SHARDLM_AVX512 inline __m512i dpbusd(__m512i acc, __m512i u, __m512i s) {
  if constexpr (kVnni) {
    asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
    return acc;
  } else {
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
  }
}

// dpbusd from zero (VNNI: a zeroing idiom, not a copy of a zero register).
template <bool kVnni>
SHARDLM_AVX512 inline __m512i dpbusd0(__m512i u, __m512i s) {
  if constexpr (kVnni) {
    __m512i r;
    asm("vpxord %0, %0, %0\n\tvpdpbusd %2, %1, %0" : "=&v"(r) : "v"(u), "vm"(s));
    return r;
  } else {
    return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1));
  }
}

// acc + sum of 2 (i16 * i16) products per i32 lane.
template <bool kVnni>
SHARDLM_AVX512 inline __m512i dpwssd(__m512i acc, __m512i a, __m512i b) {
  if constexpr (kVnni) {
    asm("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
  } else {
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
  }
}

// ---- Q8_0, Q4_0, Q5_0, Q4_1, Q5_1: 8 blocks at a time, against prepared activations ---
//
// The activations are quantized into groups of 8 blocks (256 elements, 320 bytes):
//   q[256]  int8 codes. Q8_0 kernels: element order. 4-bit / 5-bit kernels: per half h
//           (blocks 4h..4h+3) the elements 0-15 of the 4 blocks, then their elements
//           16-31, matching the low / high nibbles of 4 weight blocks side by side.
//   dx[8]   f32: block scales (the f16 value a standard Q8_0 / Q8_1 block would store)
//   cx[8]   f32, act Q8_0: -K * dx * sum(q), K = 8 (Q4_0: codes 0..15 stand for
//           code - 8; Q5_0 uses twice this term: codes 0..31 stand for code - 16) or
//           K = 128 (Q8_0 with VNNI: vpdpbusd multiplies w + 128 as unsigned);
//           act Q8_1 (Q4_1, Q5_1): the block's s = d * sum(q), the f16 value a
//           standard Q8_1 block stores.
// A trailing partial group is padded with zero blocks (and the weights with zero
// blocks copied to the stack). Codes are the bytes the standard quantizer writes.
//
// Q4_1, Q5_0 and Q5_1 use these groups rather than standard Q8_0 / Q8_1 blocks, as
// Q4_0 does: prepared once per vector, they leave each row one scale multiply and one
// offset FMA per 8 blocks, and codes that line up with 4 weight blocks' nibbles (see
// vec-dot-avx2.cpp for a measurement).
constexpr int64_t kGroup = 256;
constexpr size_t kGroupBytes = 320;

struct WordIdx {
  alignas(64) uint16_t v[32];
};
struct DwordIdx {
  alignas(64) int32_t v[16];
};
// Word indices into a pair of registers (64 words) loaded from a run of weight blocks.
constexpr WordIdx q8_0_code_idx(int p) {  // codes of blocks 2p, 2p+1 (regs at word 32p)
  WordIdx r{};
  for (int j = 0; j < 16; ++j) {
    r.v[j] = static_cast<uint16_t>(2 * p + 1 + j);
    r.v[16 + j] = static_cast<uint16_t>(2 * p + 18 + j);
  }
  return r;
}
constexpr WordIdx q4_0_code_idx(int h) {  // codes of blocks 4h..4h+3 (regs at word 32h)
  WordIdx r{};
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 8; ++j) r.v[8 * k + j] = static_cast<uint16_t>(9 * (4 * h + k) + 1 + j - 32 * h);
  return r;
}
constexpr WordIdx scale_word_idx(int stride, int first) {  // words first + stride*k, k < 4
  WordIdx r{};
  for (int k = 0; k < 4; ++k) r.v[k] = static_cast<uint16_t>(first + stride * k);
  return r;
}
constexpr WordIdx q4_0_scale_idx() {  // the 8 block scales, words 9k
  WordIdx r{};
  for (int k = 0; k < 8; ++k) r.v[k] = static_cast<uint16_t>(9 * k);
  return r;
}
constexpr DwordIdx lane_idx(int group, int first) {  // float first + k / group in lane k
  DwordIdx r{};
  for (int k = 0; k < 16; ++k) r.v[k] = first + k / group;
  return r;
}
constexpr WordIdx kQ8Code[4] = {q8_0_code_idx(0), q8_0_code_idx(1), q8_0_code_idx(2), q8_0_code_idx(3)};
constexpr WordIdx kQ8ScaleLo = scale_word_idx(17, 0);  // blocks 0..3 from bytes 0..127
constexpr WordIdx kQ8ScaleHi = scale_word_idx(17, 4);  // blocks 4..7 from bytes 128..255
constexpr WordIdx kQ4Code[2] = {q4_0_code_idx(0), q4_0_code_idx(1)};
constexpr WordIdx kQ4Scale = q4_0_scale_idx();
constexpr DwordIdx kPairLanes[4] = {lane_idx(8, 0), lane_idx(8, 2), lane_idx(8, 4), lane_idx(8, 6)};
constexpr DwordIdx kQuadLanes[2] = {lane_idx(4, 0), lane_idx(4, 4)};

// Q4_1 (20 B: f16 d | f16 m | qs[16]), Q5_0 (22 B: f16 d | u32 qh | qs[16]) and Q5_1
// (24 B: f16 d | f16 m | u32 qh | qs[16]): every field starts on a 16-bit word, so 4
// blocks side by side are gathered with word permutes. W: words per block; the words
// of the block's m, qh and qs inside it (-1: none).
enum class Leg { Q4_1, Q5_0, Q5_1 };
struct LegFmt {
  int words, m, qh, qs;
};
constexpr LegFmt leg_fmt(Leg t) {
  return t == Leg::Q4_1 ? LegFmt{10, 1, -1, 2} : t == Leg::Q5_0 ? LegFmt{11, -1, 1, 3} : LegFmt{12, 1, 2, 4};
}
// Blocks 4h..4h+3 lie in the register pair loaded at word 32h (h = 0, 1): 8 <= W <= 12.
constexpr WordIdx leg_code_idx(LegFmt f, int h) {  // the 4 blocks' qs, 16 bytes each
  WordIdx r{};
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 8; ++j) r.v[8 * k + j] = static_cast<uint16_t>(f.words * (4 * h + k) + f.qs + j - 32 * h);
  return r;
}
// Words 0-3: d of the 4 blocks, 4-7: m, 8-11: low halves of qh, 12-15: high halves.
constexpr WordIdx leg_meta_idx(LegFmt f, int h) {
  WordIdx r{};
  for (int k = 0; k < 4; ++k) {
    const int b = f.words * (4 * h + k) - 32 * h;
    r.v[k] = static_cast<uint16_t>(b);
    r.v[4 + k] = static_cast<uint16_t>(f.m >= 0 ? b + f.m : 0);
    r.v[8 + k] = static_cast<uint16_t>(f.qh >= 0 ? b + f.qh : 0);
    r.v[12 + k] = static_cast<uint16_t>(f.qh >= 0 ? b + f.qh + 1 : 0);
  }
  return r;
}
template <Leg T>
constexpr WordIdx kLegCode[2] = {leg_code_idx(leg_fmt(T), 0), leg_code_idx(leg_fmt(T), 1)};
template <Leg T>
constexpr WordIdx kLegMeta[2] = {leg_meta_idx(leg_fmt(T), 0), leg_meta_idx(leg_fmt(T), 1)};

SHARDLM_AVX512 inline __m512i ld_idx(const WordIdx& i) { return _mm512_load_si512(i.v); }
SHARDLM_AVX512 inline __m512i ld_idx(const DwordIdx& i) { return _mm512_load_si512(i.v); }

// K > 0: Q8_0 codes with cx = -K dx sum(q); K = 0: Q8_1 codes with cx = s.
template <int K, bool kSplit>
SHARDLM_AVX512 void quant_prepared(const float* x, void* vy, int64_t n) {
  constexpr int kB = K == 0 ? 36 : 34, kQ = K == 0 ? 4 : 2;  // standard block bytes, codes offset
  auto* y = static_cast<uint8_t*>(vy);
  const int64_t nb = n / 32;
  for (int64_t g = 0; g * 8 < nb; ++g, y += kGroupBytes) {
    uint8_t blk[8 * kB] = {};
    const int64_t nbg = nb - 8 * g < 8 ? nb - 8 * g : 8;
    if constexpr (K == 0)
      quant_q8_1(x + kGroup * g, blk, 32 * nbg);
    else
      quant_q8_0(x + kGroup * g, blk, 32 * nbg);
    float dx[8], cx[8];
    for (int k = 0; k < 8; ++k) {
      const uint8_t* q = blk + kB * k + kQ;
      dx[k] = ld_f16(blk + kB * k);
      if constexpr (K == 0) {
        cx[k] = ld_f16(blk + kB * k + 2);
      } else {
        const __m256i q16 = _mm256_cvtepi8_epi16(ld128(q));
        const __m256i r16 = _mm256_cvtepi8_epi16(ld128(q + 16));
        const int sum = hsum_i32(_mm256_madd_epi16(_mm256_add_epi16(q16, r16), _mm256_set1_epi16(1)));
        cx[k] = static_cast<float>(-K * sum) * dx[k];
      }
      if constexpr (!kSplit) {
        std::memcpy(y + 32 * k, q, 32);
      } else {
        std::memcpy(y + 128 * (k / 4) + 16 * (k % 4), q, 16);
        std::memcpy(y + 128 * (k / 4) + 64 + 16 * (k % 4), q + 16, 16);
      }
    }
    std::memcpy(y + 256, dx, 32);
    std::memcpy(y + 288, cx, 32);
  }
}

// 8 Q8_0 weight blocks (272 bytes at wb) against one prepared group.
template <bool kVnni>
SHARDLM_AVX512 inline void q8_0_group(const uint8_t* wb, const uint8_t* xg, __m512* acc, __m256& accc) {
  __m512i z[5];
  SHARDLM_UNROLL for (int i = 0; i < 4; ++i) z[i] = ld512(wb + 64 * i);
  z[4] = _mm512_maskz_loadu_epi8(0xFFFF, wb + 256);
  const __m128i d03 = _mm512_castsi512_si128(_mm512_permutex2var_epi16(z[0], ld_idx(kQ8ScaleLo), z[1]));
  const __m128i d47 = _mm512_castsi512_si128(_mm512_permutex2var_epi16(z[2], ld_idx(kQ8ScaleHi), z[3]));
  const __m256 dw = _mm256_cvtph_ps(_mm_unpacklo_epi64(d03, d47));
  const __m512 s = _mm512_castps256_ps512(_mm256_mul_ps(dw, _mm256_loadu_ps(reinterpret_cast<const float*>(xg + 256))));
  if constexpr (kVnni) accc = _mm256_fmadd_ps(dw, _mm256_loadu_ps(reinterpret_cast<const float*>(xg + 288)), accc);
  SHARDLM_UNROLL for (int p = 0; p < 4; ++p) {
    const __m512i wq = _mm512_permutex2var_epi16(z[p], ld_idx(kQ8Code[p]), z[p + 1]);
    const __m512i xq = ld512(xg + 64 * p);
    __m512i isum;
    if constexpr (kVnni) {  // (w + 128) * x; the 128 * x part is taken back through cx
      isum = dpbusd<true>(_mm512_setzero_si512(), _mm512_xor_si512(wq, _mm512_set1_epi8(static_cast<char>(0x80))), xq);
    } else {  // |w| * (x with w's sign): maddubs pairs stay below 2 * 128 * 127
      const __m512i sx = _mm512_mask_sub_epi8(xq, _mm512_movepi8_mask(wq), _mm512_setzero_si512(), xq);
      isum = dpbusd<false>(_mm512_setzero_si512(), _mm512_abs_epi8(wq), sx);
    }
    acc[p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_permutexvar_ps(ld_idx(kPairLanes[p]), s), acc[p]);
  }
}

// 8 Q4_0 weight blocks (144 bytes at wb) against one prepared group.
template <bool kVnni>
SHARDLM_AVX512 inline void q4_0_group(const uint8_t* wb, const uint8_t* xg, __m512* acc, __m256& accc) {
  const __m512i z0 = ld512(wb), z1 = ld512(wb + 64), z2 = _mm512_maskz_loadu_epi8(0xFFFF, wb + 128);
  const __m256 dw = _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi16(z0, ld_idx(kQ4Scale), z1)));
  const __m512 s = _mm512_castps256_ps512(_mm256_mul_ps(dw, _mm256_loadu_ps(reinterpret_cast<const float*>(xg + 256))));
  accc = _mm256_fmadd_ps(dw, _mm256_loadu_ps(reinterpret_cast<const float*>(xg + 288)), accc);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  SHARDLM_UNROLL for (int h = 0; h < 2; ++h) {
    const __m512i q = h == 0 ? _mm512_permutex2var_epi16(z0, ld_idx(kQ4Code[0]), z1)
                             : _mm512_permutex2var_epi16(z1, ld_idx(kQ4Code[1]), z2);
    __m512i isum = dpbusd<kVnni>(_mm512_setzero_si512(), _mm512_and_si512(q, m4), ld512(xg + 128 * h));
    isum = dpbusd<kVnni>(isum, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4), ld512(xg + 128 * h + 64));
    acc[h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_permutexvar_ps(ld_idx(kQuadLanes[h]), s), acc[h]);
  }
}

// One row as groups of 8 weight blocks of kBlockBytes: Group(blocks, prepared group,
// acc, accc) per group, the last partial group padded with zero blocks. Shared by the
// Q8_0/Q4_0 and Q4_1/Q5_0/Q5_1 kernels (a Group uses acc[0..1] or acc[0..3]).
template <int64_t kBlockBytes, void (*Group)(const uint8_t*, const uint8_t*, __m512*, __m256&)>
SHARDLM_AVX512 void group_row(int64_t n, float* out, const void* vw, const void* vx) {
  const auto* w = static_cast<const uint8_t*>(vw);
  const auto* x = static_cast<const uint8_t*>(vx);
  const int64_t nb = n / 32, ng = nb / 8;
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  __m256 accc = _mm256_setzero_ps();
  for (int64_t g = 0; g < ng; ++g) Group(w + 8 * kBlockBytes * g, x + kGroupBytes * g, acc, accc);
  if (nb % 8) {  // the last blocks, padded with zero blocks
    uint8_t wt[8 * kBlockBytes] = {};
    std::memcpy(wt, w + 8 * kBlockBytes * ng, static_cast<size_t>(kBlockBytes * (nb % 8)));
    Group(wt, x + kGroupBytes * ng, acc, accc);
  }
  *out = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]))) + hsum256(accc);
}

// 8 Q4_1 / Q5_0 / Q5_1 weight blocks against one prepared group (split codes). The
// codes are taken unsigned (0..15, 0..31); Q5_0's -16 comes back through 2 * dw * cx,
// the minimum of Q4_1 / Q5_1 through m * s as in the scalar kernel.
template <bool kVnni, Leg T>
SHARDLM_AVX512 inline void leg_group(const uint8_t* wb, const uint8_t* xg, __m512* acc, __m256& accc) {
  constexpr int kBytes = 2 * leg_fmt(T).words;
  constexpr __mmask64 kTail = kBytes == 24 ? ~0ull : (1ull << (8 * kBytes - 128)) - 1;  // bytes past 128
  const __m512i z[3] = {ld512(wb), ld512(wb + 64), _mm512_maskz_loadu_epi8(kTail, wb + 128)};
  __m256i meta[2];  // per half: d, m, qh words (leg_meta_idx)
  SHARDLM_UNROLL for (int h = 0; h < 2; ++h)
    meta[h] = _mm512_castsi512_si256(_mm512_permutex2var_epi16(z[h], ld_idx(kLegMeta<T>[h]), z[h + 1]));
  const __m128i dm0 = _mm256_castsi256_si128(meta[0]), dm1 = _mm256_castsi256_si128(meta[1]);
  const __m256 dw = _mm256_cvtph_ps(_mm_unpacklo_epi64(dm0, dm1));
  const __m512 s = _mm512_castps256_ps512(_mm256_mul_ps(dw, _mm256_loadu_ps(reinterpret_cast<const float*>(xg + 256))));
  const __m256 cx = _mm256_loadu_ps(reinterpret_cast<const float*>(xg + 288));
  if constexpr (T == Leg::Q5_0)
    accc = _mm256_fmadd_ps(_mm256_add_ps(dw, dw), cx, accc);
  else
    accc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_unpackhi_epi64(dm0, dm1)), cx, accc);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  SHARDLM_UNROLL for (int h = 0; h < 2; ++h) {
    const __m512i q = _mm512_permutex2var_epi16(z[h], ld_idx(kLegCode<T>[h]), z[h + 1]);
    __m512i lo = _mm512_and_si512(q, m4);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    if constexpr (T != Leg::Q4_1) {
      // Bit 16k + j of the mask: 5th bit of element j (lo) / 16 + j (hi) of block 4h + k.
      const __m128i bits = _mm256_extracti128_si256(meta[h], 1);
      const __m512i b4 = _mm512_set1_epi8(0x10);
      lo = _mm512_mask_add_epi8(lo, _cvtu64_mask64(static_cast<uint64_t>(_mm_cvtsi128_si64(bits))), lo, b4);
      hi = _mm512_mask_add_epi8(hi, _cvtu64_mask64(static_cast<uint64_t>(_mm_extract_epi64(bits, 1))), hi, b4);
    }
    __m512i isum = dpbusd<kVnni>(_mm512_setzero_si512(), lo, ld512(xg + 128 * h));
    isum = dpbusd<kVnni>(isum, hi, ld512(xg + 128 * h + 64));
    acc[h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_permutexvar_ps(ld_idx(kQuadLanes[h]), s), acc[h]);
  }
}

// ---- Q4_K and Q5_K x Q8_K ------------------------------------------------------------------
//
// The activations are prepared per 256-element super-block (quant_k45, 288 bytes):
//   q[256]  the Q8_K codes of the 32-element sub-blocks in the order 0, 2, 1, 3, 4, 6,
//           5, 7: each 64 bytes line up with the low (0 2, 4 6) or high (1 3, 5 7)
//           nibbles of 64 weight code bytes
//   bs[8]   i16 at 256: the sum of the 32 codes of sub-block j (two Q8_K bsums)
//   dxv[4]  f32 at 272: dx, -dx, 0, 0 (dx the Q8_K block scale)
// Codes, sums and dx are those of the standard Q8_K quantizer, so the integer sums are
// the scalar kernel's. Per weight super-block the kernel then does no activation
// shuffles, one 128-bit madd for the min term and one f16 pair conversion.
constexpr int64_t kK45Group = 256;
constexpr size_t kK45GroupBytes = 288;

SHARDLM_AVX512 void quant_q8_k(const float* x, void* vy, int64_t n);  // standard Q8_K blocks (below)

SHARDLM_AVX512 void quant_k45(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<uint8_t*>(vy);
  for (int64_t i = 0; i < n / kK45Group; ++i, x += kK45Group, y += kK45GroupBytes) {
    uint8_t blk[292];
    quant_q8_k(x, blk, kK45Group);
    for (int k = 0; k < 8; ++k) {
      const int j = (k & 4) | ((k & 1) << 1) | ((k >> 1) & 1);  // 0 2 1 3 4 6 5 7
      std::memcpy(y + 32 * k, blk + 4 + 32 * j, 32);
    }
    int16_t bs[16], b8[8];
    std::memcpy(bs, blk + 260, 32);
    for (int j = 0; j < 8; ++j) b8[j] = static_cast<int16_t>(bs[2 * j] + bs[2 * j + 1]);
    std::memcpy(y + 256, b8, 16);
    float dx;
    std::memcpy(&dx, blk, 4);
    const float dxv[4] = {dx, -dx, 0.0f, 0.0f};
    std::memcpy(y + 272, dxv, 16);
  }
}

// The 6-bit scales (bytes 0-7) and mins (bytes 8-15) of a Q4_K / Q5_K super-block from
// its 12 packed bytes at s (16 bytes are read, the last 4 ignored). As dwords a0 a1 a2:
// sc0-3 = a0 & 0x3F.., sc4-7 = (a2 & 0x0F..) | ((a0 >> 2) & 0x30..),
// mn0-3 = a1 & 0x3F.., mn4-7 = ((a2 >> 4) & 0x0F..) | ((a1 >> 2) & 0x30..).
SHARDLM_AVX512 inline __m128i k4_scales_mins(const uint8_t* s) {
  const __m128i v = ld128(s);
  const __m128i p = _mm_srlv_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)), _mm_setr_epi32(0, 0, 0, 4));
  const __m128i q = _mm_and_si128(_mm_srli_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)), 2),
                                  _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
  const __m128i m = _mm_setr_epi32(0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F);
  return _mm_ternarylogic_epi32(p, m, q, 0xEA);  // (p & m) | q
}

struct ByteIdx {
  alignas(64) uint8_t v[64];
};
// pshufb control giving, as 16-bit words, scale 4c + 2 (lane / 2) + (word / 4) of the 8
// scale bytes held in every 128-bit lane: the scales of the words of
// packs_epi32(sums of low nibbles, sums of high nibbles) for code bytes 64c..64c+63.
constexpr ByteIdx k45_scale_idx(int c) {
  ByteIdx r{};
  for (int lane = 0; lane < 4; ++lane)
    for (int wd = 0; wd < 8; ++wd) {
      r.v[16 * lane + 2 * wd] = static_cast<uint8_t>(4 * c + 2 * (lane / 2) + wd / 4);
      r.v[16 * lane + 2 * wd + 1] = 0x80;  // zero: the high byte
    }
  return r;
}
// The bit of Q5_K sub-block a in bytes 0-31, of b in bytes 32-63.
constexpr ByteIdx k5_bit_pair(int a, int b) {
  ByteIdx r{};
  for (int l = 0; l < 64; ++l) r.v[l] = static_cast<uint8_t>(1 << (l < 32 ? a : b));
  return r;
}
constexpr ByteIdx kK45Scale[2] = {k45_scale_idx(0), k45_scale_idx(1)};
constexpr ByteIdx kK5Bits[2][2] = {{k5_bit_pair(0, 2), k5_bit_pair(1, 3)}, {k5_bit_pair(4, 6), k5_bit_pair(5, 7)}};
SHARDLM_AVX512 inline __m512i ld_idx(const ByteIdx& i) { return _mm512_load_si512(i.v); }

// One Q4_K (kQ5 false) or Q5_K super-block (144 / 176 bytes at wb) against one prepared
// activation super-block xb. Per 64 code bytes: u8 x i8 sums of 4 (|sum| <= 4 * 31 * 127,
// so packs_epi32 keeps them exact) for the low and the high nibbles, packed to words and
// multiplied by their sub-block scales with one dpwssd.
template <bool kVnni, bool kQ5>
SHARDLM_AVX512 inline void k45_step(const uint8_t* wb, const uint8_t* xb, __m512& acc, __m128& accm) {
  const __m128i sm = k4_scales_mins(wb + 4);
  const __m512i smb = _mm512_broadcast_i32x4(sm);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const uint8_t* q = wb + (kQ5 ? 48 : 16);
  __m512i qh = _mm512_setzero_si512();
  if constexpr (kQ5) qh = _mm512_broadcast_i64x4(ld256(wb + 16));  // bit j of byte l: sub-block j
  __m512i isum = _mm512_undefined_epi32();  // set by c = 0 (madd: no zeroed accumulator)
  SHARDLM_UNROLL for (int c = 0; c < 2; ++c) {
    const __m512i v = ld512(q + 64 * c);
    __m512i lo = _mm512_and_si512(v, m4);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    if constexpr (kQ5) {  // + 16 where the sub-block's bit is set (codes <= 15: add = or)
      const __m512i b4 = _mm512_set1_epi8(0x10);
      lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(qh, ld_idx(kK5Bits[c][0])), lo, b4);
      hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(qh, ld_idx(kK5Bits[c][1])), hi, b4);
    }
    const __m512i sl = dpbusd0<kVnni>(lo, ld512(xb + 128 * c));
    const __m512i sh = dpbusd0<kVnni>(hi, ld512(xb + 128 * c + 64));
    const __m512i p = _mm512_packs_epi32(sl, sh), scv = _mm512_shuffle_epi8(smb, ld_idx(kK45Scale[c]));
    isum = c == 0 ? _mm512_madd_epi16(p, scv) : dpwssd<kVnni>(isum, p, scv);
  }
  // mn_j * (sum of sub-block j's codes), 4 dwords
  const __m128i msum = _mm_madd_epi16(_mm_unpackhi_epi8(sm, _mm_setzero_si128()), ld128(xb + 256));
  uint32_t dm;
  std::memcpy(&dm, wb, 4);
  const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(dm))),
                               _mm_loadu_ps(reinterpret_cast<const float*>(xb + 272)));  // d dx, -dmin dx
  acc = _mm512_fmadd_ps(_mm512_broadcastss_ps(dd), _mm512_cvtepi32_ps(isum), acc);
  accm = _mm_fmadd_ps(_mm_shuffle_ps(dd, dd, 0x55), _mm_cvtepi32_ps(msum), accm);
}

template <bool kVnni, bool kQ5, int R>
SHARDLM_AVX512 void k45_rows(int64_t n, float* out, const uint8_t* w, size_t rb, const uint8_t* x) {
  constexpr int64_t kBytes = kQ5 ? 176 : 144;
  __m512 acc[R];
  __m128 accm[R];
  SHARDLM_UNROLL for (int r = 0; r < R; ++r) {
    acc[r] = _mm512_setzero_ps();
    accm[r] = _mm_setzero_ps();
  }
  for (int64_t i = 0; i < n / kK45Group; ++i) {
    SHARDLM_UNROLL for (int r = 0; r < R; ++r)
      k45_step<kVnni, kQ5>(w + r * rb + kBytes * i, x + kK45GroupBytes * i, acc[r], accm[r]);
  }
  SHARDLM_UNROLL for (int r = 0; r < R; ++r)
    out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r], _mm512_zextps128_ps512(accm[r])));
}
template <bool kVnni, int R>
SHARDLM_AVX512 void q4_k_rows(int64_t n, float* out, const uint8_t* w, size_t rb, const uint8_t* x) {
  k45_rows<kVnni, false, R>(n, out, w, rb, x);
}
template <bool kVnni, int R>
SHARDLM_AVX512 void q5_k_rows(int64_t n, float* out, const uint8_t* w, size_t rb, const uint8_t* x) {
  k45_rows<kVnni, true, R>(n, out, w, rb, x);
}

// ---- Q6_K x Q8_K ----------------------------------------------------------------------------

// Word indices g, g+1, g+2, g+3, each over 8 lanes.
SHARDLM_AVX512 inline __m512i idx_4x8(int g) {
  const int p0 = g * 0x10001, p1 = (g + 1) * 0x10001, p2 = (g + 2) * 0x10001, p3 = (g + 3) * 0x10001;
  return _mm512_setr_epi32(p0, p0, p0, p0, p1, p1, p1, p1, p2, p2, p2, p2, p3, p3, p3, p3);
}

template <bool kVnni>
SHARDLM_AVX512 inline void q6_k_step(const uint8_t* wb, const __m512i* xv, __m256i bsums, float dx, __m512& acc) {
  const __m256i sc16 = _mm256_cvtepi8_epi16(ld128(wb + 192));
  // sum (q - 32) * x = sum q * x - 32 * sum x: start from -32 * sum_g sc_g * bsum_g.
  const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(bsums, sc16), 5);
  __m512i isum = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_sub_epi32(_mm256_setzero_si256(), corr), 0);
  const __m512i sc = _mm512_castsi256_si512(sc16);
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  // 2-bit high parts moved to bits 4-5: elements 0..31 take bits 0-1 of qh, 32..63 bits
  // 2-3 (shift left 4 / 2); elements 64..95 bits 4-5, 96..127 bits 6-7 (right 0 / 2).
  const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  const __m512i shr = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
  SHARDLM_UNROLL for (int h = 0; h < 2; ++h) {
    const __m512i l = ld512(wb + 64 * h);
    const __m512i hb = _mm512_broadcast_i64x4(ld256(wb + 128 + 32 * h));
    const __m512i qa = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(_mm512_sllv_epi16(hb, shl), m30));
    const __m512i qb = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                       _mm512_and_si512(_mm512_srlv_epi16(hb, shr), m30));
    isum = dpwssd<kVnni>(isum, _mm512_maddubs_epi16(qa, xv[2 * h]), _mm512_permutexvar_epi16(idx_4x8(8 * h), sc));
    isum = dpwssd<kVnni>(isum, _mm512_maddubs_epi16(qb, xv[2 * h + 1]), _mm512_permutexvar_epi16(idx_4x8(8 * h + 4), sc));
  }
  acc = _mm512_fmadd_ps(_mm512_set1_ps(ld_f16(wb + 208) * dx), _mm512_cvtepi32_ps(isum), acc);
}

template <bool kVnni, int R>
SHARDLM_AVX512 void q6_k_rows(int64_t n, float* out, const uint8_t* w, size_t rb, const uint8_t* x) {
  __m512 acc[R];
  SHARDLM_UNROLL for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const uint8_t* xb = x + 292 * i;
    __m512i xv[4];
    SHARDLM_UNROLL for (int k = 0; k < 4; ++k) xv[k] = ld512(xb + 4 + 64 * k);
    const __m256i bsums = ld256(xb + 260);
    const float dx = ld_f32(xb);
    SHARDLM_UNROLL for (int r = 0; r < R; ++r) q6_k_step<kVnni>(w + r * rb + 210 * i, xv, bsums, dx, acc[r]);
  }
  SHARDLM_UNROLL for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
}

// ---- F32 / F16 / BF16 x F32 ---------------------------------------------------------------

enum class Fp { F32, F16, BF16 };

// 16 weights from element i as floats; lanes outside mask m read as 0 (no memory access).
template <Fp T>
SHARDLM_AVX512 inline __m512 load16(const uint8_t* w, int64_t i, __mmask16 m) {
  if constexpr (T == Fp::F32) return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(w) + i);
  if constexpr (T == Fp::F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + 2 * i));
  if constexpr (T == Fp::BF16)
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, w + 2 * i)), 16));
}
template <Fp T>
SHARDLM_AVX512 inline __m512 load16(const uint8_t* w, int64_t i) {
  if constexpr (T == Fp::F32) return _mm512_loadu_ps(reinterpret_cast<const float*>(w) + i);
  if constexpr (T == Fp::F16) return _mm512_cvtph_ps(ld256(w + 2 * i));
  if constexpr (T == Fp::BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(ld256(w + 2 * i)), 16));
}

template <Fp T, int R>
SHARDLM_AVX512 void fp_rows(int64_t n, float* out, const uint8_t* w, size_t rb, const float* x) {
  constexpr int U = R == 1 ? 4 : 1;
  __m512 acc[U][R];
  SHARDLM_UNROLL for (int u = 0; u < U; ++u) SHARDLM_UNROLL for (int r = 0; r < R; ++r) acc[u][r] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 * U <= n; i += 16 * U) {
    SHARDLM_UNROLL for (int u = 0; u < U; ++u) {
      const __m512 xv = _mm512_loadu_ps(x + i + 16 * u);
      SHARDLM_UNROLL for (int r = 0; r < R; ++r)
        acc[u][r] = _mm512_fmadd_ps(load16<T>(w + r * rb, i + 16 * u), xv, acc[u][r]);
    }
  }
  for (; i < n; i += 16) {
    const int64_t left = n - i;
    const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
    SHARDLM_UNROLL for (int r = 0; r < R; ++r) acc[0][r] = _mm512_fmadd_ps(load16<T>(w + r * rb, i, m), xv, acc[0][r]);
  }
  SHARDLM_UNROLL for (int r = 0; r < R; ++r) {
    __m512 s = acc[0][r];
    SHARDLM_UNROLL for (int u = 1; u < U; ++u) s = _mm512_add_ps(s, acc[u][r]);
    out[r] = _mm512_reduce_add_ps(s);
  }
}

// ---- entry points with the VecDotFn / VecDot4Fn signatures ---------------------------------

#define SHARDLM_ENTRY_Q(name, impl)                                                                    \
  template <bool kVnni>                                                                                \
  SHARDLM_AVX512 void name##_1(int64_t n, float* out, const void* w, const void* x) {                  \
    impl<kVnni, 1>(n, out, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(x));         \
  }                                                                                                    \
  template <bool kVnni>                                                                                \
  SHARDLM_AVX512 void name##_4(int64_t n, float* out, const void* w, size_t rb, const void* x) {       \
    impl<kVnni, 4>(n, out, static_cast<const uint8_t*>(w), rb, static_cast<const uint8_t*>(x));        \
  }
SHARDLM_ENTRY_Q(q4_k, q4_k_rows)
SHARDLM_ENTRY_Q(q5_k, q5_k_rows)
SHARDLM_ENTRY_Q(q6_k, q6_k_rows)
#undef SHARDLM_ENTRY_Q

template <Fp T>
SHARDLM_AVX512 void fp_1(int64_t n, float* out, const void* w, const void* x) {
  fp_rows<T, 1>(n, out, static_cast<const uint8_t*>(w), 0, static_cast<const float*>(x));
}
template <Fp T>
SHARDLM_AVX512 void fp_4(int64_t n, float* out, const void* w, size_t rb, const void* x) {
  fp_rows<T, 4>(n, out, static_cast<const uint8_t*>(w), rb, static_cast<const float*>(x));
}

// ---- activation quantizers (same bytes as the scalar ones) -----------------------------

SHARDLM_AVX512 inline float amax_of(const float* x, int64_t len) {
  __m512 m = _mm512_setzero_ps();
  for (int64_t j = 0; j < len; j += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
  return _mm512_reduce_max_ps(m);
}

// round-half-even(x[0..15] * id) as 32-bit lanes (cvtps2dq rounds to nearest even).
SHARDLM_AVX512 inline __m512i round16(const float* x, __m512 id) {
  return _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x), id));
}

SHARDLM_AVX512 void quant_q8_0(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<uint8_t*>(vy);
  for (int64_t i = 0; i < n / 32; ++i, x += 32, y += 34) {
    const float d = amax_of(x, 32) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = fp32_to_fp16(d);
    std::memcpy(y, &h, 2);
    const __m512 idv = _mm512_set1_ps(id);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + 2), _mm512_cvtsepi32_epi8(round16(x, idv)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + 18), _mm512_cvtsepi32_epi8(round16(x + 16, idv)));
  }
}

// Q8_1: as Q8_0 plus s = f16(d * sum q), d the stored f16 value (as the scalar one).
SHARDLM_AVX512 void quant_q8_1(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<uint8_t*>(vy);
  for (int64_t i = 0; i < n / 32; ++i, x += 32, y += 36) {
    const float d = amax_of(x, 32) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = fp32_to_fp16(d);
    const __m512 idv = _mm512_set1_ps(id);
    const __m512i q0 = round16(x, idv), q1 = round16(x + 16, idv);
    const int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    const uint16_t hs = fp32_to_fp16(_cvtsh_ss(h) * static_cast<float>(sum));
    std::memcpy(y, &h, 2);
    std::memcpy(y + 2, &hs, 2);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + 4), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + 20), _mm512_cvtsepi32_epi8(q1));
  }
}

SHARDLM_AVX512 void quant_q8_k(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<uint8_t*>(vy);
  for (int64_t i = 0; i < n / 256; ++i, x += 256, y += 292) {
    const float d = amax_of(x, 256) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    std::memcpy(y, &d, 4);
    const __m512 idv = _mm512_set1_ps(id);
    for (int g = 0; g < 16; ++g) {
      const __m512i q = round16(x + 16 * g, idv);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y + 4 + 16 * g), _mm512_cvtsepi32_epi8(q));
      const int16_t s = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
      std::memcpy(y + 260 + 2 * g, &s, 2);
    }
  }
}

template <bool kVnni>
void fill(DType weight, VecDotKernel* k) {
  const Isa isa = kVnni ? Isa::Avx512Vnni : Isa::Avx512;
  switch (weight) {
    case DType::Q8_0:
      *k = {weight, DType::Q8_0, 32, group_row<34, q8_0_group<kVnni>>, nullptr, quant_prepared<128, false>, isa, kGroup, kGroupBytes};
      break;
    case DType::Q4_0:
      *k = {weight, DType::Q8_0, 32, group_row<18, q4_0_group<kVnni>>, nullptr, quant_prepared<8, true>, isa, kGroup, kGroupBytes};
      break;
    case DType::Q5_0:
      *k = {weight, DType::Q8_0, 32, group_row<2 * leg_fmt(Leg::Q5_0).words, leg_group<kVnni, Leg::Q5_0>>, nullptr, quant_prepared<8, true>, isa, kGroup, kGroupBytes};
      break;
    case DType::Q4_1:
      *k = {weight, DType::Q8_1, 32, group_row<2 * leg_fmt(Leg::Q4_1).words, leg_group<kVnni, Leg::Q4_1>>, nullptr, quant_prepared<0, true>, isa, kGroup, kGroupBytes};
      break;
    case DType::Q5_1:
      *k = {weight, DType::Q8_1, 32, group_row<2 * leg_fmt(Leg::Q5_1).words, leg_group<kVnni, Leg::Q5_1>>, nullptr, quant_prepared<0, true>, isa, kGroup, kGroupBytes};
      break;
    case DType::Q4_K:
      *k = {weight, DType::Q8_K, 256, q4_k_1<kVnni>, q4_k_4<kVnni>, quant_k45, isa, kK45Group, kK45GroupBytes};
      break;
    case DType::Q5_K:
      *k = {weight, DType::Q8_K, 256, q5_k_1<kVnni>, q5_k_4<kVnni>, quant_k45, isa, kK45Group, kK45GroupBytes};
      break;
    case DType::Q6_K: *k = {weight, DType::Q8_K, 256, q6_k_1<kVnni>, q6_k_4<kVnni>, nullptr, isa}; break;
    default: break;
  }
}

}  // namespace

namespace vec_dot_detail {

bool avx512_kernel(DType weight, bool vnni, VecDotKernel* k) {
  switch (weight) {
    case DType::Q8_0: case DType::Q4_0: case DType::Q5_0: case DType::Q4_1: case DType::Q5_1:
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
      if (vnni)
        fill<true>(weight, k);
      else
        fill<false>(weight, k);
      return true;
    // Floating-point weights: no integer dot products, the same kernel on both levels.
    case DType::F32: *k = {weight, DType::F32, 1, fp_1<Fp::F32>, fp_4<Fp::F32>, nullptr, Isa::Avx512}; return true;
    case DType::F16: *k = {weight, DType::F32, 1, fp_1<Fp::F16>, fp_4<Fp::F16>, nullptr, Isa::Avx512}; return true;
    case DType::BF16: *k = {weight, DType::F32, 1, fp_1<Fp::BF16>, fp_4<Fp::BF16>, nullptr, Isa::Avx512}; return true;
    default: return false;
  }
}

QuantizeActFn avx512_quantizer(DType act) {
  switch (act) {
    case DType::Q8_0: return quant_q8_0;
    case DType::Q8_1: return quant_q8_1;
    case DType::Q8_K: return quant_q8_k;
    default: return nullptr;
  }
}

}  // namespace vec_dot_detail
}  // namespace shardlm

#else  // not x86-64: no AVX-512 kernels

namespace shardlm::vec_dot_detail {
bool avx512_kernel(DType, bool, VecDotKernel*) { return false; }
QuantizeActFn avx512_quantizer(DType) { return nullptr; }
}  // namespace shardlm::vec_dot_detail

#endif
