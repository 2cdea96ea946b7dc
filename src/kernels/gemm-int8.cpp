// 8-bit integer GEMM for multi-token steps (see gemm-int8.h for formulas and layouts).
//
// The library is compiled for the x86-64 baseline: every function that uses AVX-512
// carries SHARDLM_VNNI (a target attribute) and is only reached when
// gemm_int8_supported().
#include "shardlm/kernels/gemm-int8.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/gemm-int8-avx2.h"
#include "kernels/quant-k.h"
#include "shardlm/core/cpu-features.h"

#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define SHARDLM_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#endif

namespace shardlm {

using gemm_int8_detail::kBlock;
using gemm_int8_detail::XLayout;

namespace {

// The zero point subtracted from the codes of type t (gemm-int8.h).
int zero_point(DType t) {
  switch (t) {
    case DType::Q8_0: return 128;
    case DType::Q4_0: return 8;
    case DType::Q5_0: return 16;
    case DType::Q6_K: return 32;
    default: return 0;
  }
}

bool has_offset(DType t) {
  return t == DType::Q4_1 || t == DType::Q5_1 || t == DType::Q4_K || t == DType::Q5_K;
}

bool vnni() {
#if defined(__x86_64__)
  const CpuFeatures f = cpu_features();
  return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512_vnni;
#else
  return false;
#endif
}

// AVX2 + FMA + F16C: the stored-panel kernel of gemm-int8-avx2.cpp.
bool avx2() {
  const CpuFeatures f = cpu_features();
  return f.avx2 && f.fma && f.f16c;
}

}  // namespace

bool gemm_int8_supported(DType t) {
#if defined(__x86_64__)
  const bool isa = vnni();
  switch (t) {
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q4_K:
    case DType::Q5_K: return isa;
    default: return false;
  }
#else
  (void)t;
  return false;
#endif
}

size_t gemm_int8_packed_x_bytes(int64_t n, int64_t cols) { return XLayout(n, cols).bytes; }

bool gemm_int8_packable(DType t) {
  if (gemm_int8_detail::avx2_panel_only(t)) return avx2() && !vnni();
  return (t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q4_K || t == DType::Q6_K) && (vnni() || avx2());
}

namespace {

// Bytes of one stored 32-row panel of cols columns (gemm-int8.h).
size_t panel_bytes(DType t, int64_t cols) {
  if (t == DType::Q4_K) return static_cast<size_t>(cols / 256) * 4736;
  if (t == DType::Q6_K) return static_cast<size_t>(cols / 256) * 6720;
  return 32 * dtype_row_bytes(t, cols);
}

}  // namespace

size_t gemm_int8_packed_weight_bytes(DType t, int64_t rows, int64_t cols) {
  return static_cast<size_t>((rows + 31) / 32) * panel_bytes(t, cols);
}

#if defined(__x86_64__)
namespace {

constexpr int kT = 6;           // tokens per register tile
constexpr int kRows = 32;       // rows per panel (2 vectors of 16 lanes)
constexpr int kStepBytes = 128; // one step of 4 codes for the 32 rows of a panel

// Tokens [t0, t1) -> codes, dx, dx*sum q, -zp*sum q per half block (layout in XLayout).
SHARDLM_VNNI void pack_x(int zp, const float* x, int64_t n, int64_t cols, int64_t t0, int64_t t1, uint8_t* xp) {
  const XLayout L(n, cols);
  for (int64_t t = t0; t < t1; ++t) {
    const float* xr = x + t * cols;
    int8_t* q = reinterpret_cast<int8_t*>(xp) + t * cols;
    float* d = reinterpret_cast<float*>(xp + L.d) + t * L.nb;
    float* s = reinterpret_cast<float*>(xp + L.s) + t * L.nb;
    int32_t* z2 = reinterpret_cast<int32_t*>(xp + L.z2) + 2 * t * L.nb;
    for (int64_t b = 0; b < L.nb; ++b) {
      const __m512 lo = _mm512_loadu_ps(xr + b * kBlock), hi = _mm512_loadu_ps(xr + b * kBlock + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
      const float db = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
      const __m512i qlo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, _mm512_set1_ps(id)));  // round to nearest even
      const __m512i qhi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, _mm512_set1_ps(id)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * kBlock), _mm512_cvtsepi32_epi8(qlo));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * kBlock + 16), _mm512_cvtsepi32_epi8(qhi));
      const int sum_lo = _mm512_reduce_add_epi32(qlo), sum = sum_lo + _mm512_reduce_add_epi32(qhi);
      d[b] = db;
      s[b] = db * static_cast<float>(sum);
      z2[2 * b] = -zp * sum_lo;  // halves of 16 (Q6_K: a scale per half)
      z2[2 * b + 1] = -zp * (sum - sum_lo);
    }
  }
}

SHARDLM_VNNI inline float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// 16 bytes of packed nibbles -> 32 codes: low nibbles first, then high nibbles.
SHARDLM_VNNI inline __m256i nibbles(const uint8_t* p) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i m = _mm_set1_epi8(15);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

// Bit `bit` of each of 32 bytes -> 16 where set, else 0.
SHARDLM_VNNI inline __m256i fifth_bits(__mmask32 bits) {
  return _mm256_maskz_mov_epi8(bits, _mm256_set1_epi8(16));
}

SHARDLM_VNNI inline void put(uint8_t* codes, int64_t b, __m256i c) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + b * kBlock), c);
}

// One weight row (cols elements) -> codes (cols bytes), d and m per 32-block.
SHARDLM_VNNI void row_codes(DType t, const uint8_t* src, int64_t cols, uint8_t* codes, float* d, float* m) {
  const int64_t nb = cols / kBlock;
  switch (t) {
    case DType::Q8_0:
      for (int64_t b = 0; b < nb; ++b, src += 34) {
        d[b] = load_f16(src);
        m[b] = 0;
        put(codes, b, _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2)), _mm256_set1_epi8(-128)));
      }
      return;
    case DType::Q4_0:
      for (int64_t b = 0; b < nb; ++b, src += 18) {
        d[b] = load_f16(src);
        m[b] = 0;
        put(codes, b, nibbles(src + 2));
      }
      return;
    case DType::Q4_1:
      for (int64_t b = 0; b < nb; ++b, src += 20) {
        d[b] = load_f16(src);
        m[b] = load_f16(src + 2);
        put(codes, b, nibbles(src + 4));
      }
      return;
    case DType::Q5_0:
    case DType::Q5_1: {
      const bool one = t == DType::Q5_1;
      const int64_t bb = one ? 24 : 22, h = one ? 4 : 2;  // block bytes, offset of qh
      for (int64_t b = 0; b < nb; ++b, src += bb) {
        d[b] = load_f16(src);
        m[b] = one ? load_f16(src + 2) : 0;
        uint32_t qh;
        std::memcpy(&qh, src + h, 4);
        put(codes, b, _mm256_or_si256(nibbles(src + h + 4), fifth_bits(qh)));
      }
      return;
    }
    case DType::Q4_K:
    case DType::Q5_K: {
      const bool five = t == DType::Q5_K;
      const int64_t bb = five ? 176 : 144;
      for (int64_t s = 0; s < nb / 8; ++s, src += bb) {
        const float dd = load_f16(src), dmin = load_f16(src + 2);
        const uint8_t* sc = src + 4;
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 16));  // Q5_K only
        const uint8_t* ql = src + (five ? 48 : 16);
        for (int j = 0; j < 8; ++j) {
          int a, mn;
          scale_min_k4(j, sc, &a, &mn);
          const int64_t b = s * 8 + j;
          d[b] = dd * static_cast<float>(a);
          m[b] = -dmin * static_cast<float>(mn);
          // Sub-block j: the low (j even) or high (j odd) nibbles of ql[32 (j/2) ..].
          const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32 * (j / 2)));
          __m256i c = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(15));
          if (five) c = _mm256_or_si256(c, fifth_bits(_mm256_test_epi8_mask(qh, _mm256_set1_epi8(static_cast<char>(1 << j)))));
          put(codes, b, c);
        }
      }
      return;
    }
    default: return;  // not reached: gemm_int8_supported
  }
}

// Rows [p, p + nr) of w -> the panel (codes [cols/4][32][4], d and m [nb][32]); rows
// past nr get zero codes and scales. Four rows at a time: their codes go to `codes`
// ([4][cols]) and are transposed 32 at a time into the panel with dword unpacks.
SHARDLM_VNNI void build_panel(const WeightView& w, int64_t p, int nr, uint8_t* pc, float* pd, float* pm, uint8_t* codes,
                              float* d, float* m) {
  const int64_t nb = w.cols / kBlock;
  for (int r0 = 0; r0 < kRows; r0 += 4) {
    for (int i = 0; i < 4; ++i) {
      const int r = r0 + i;
      uint8_t* ci = codes + i * w.cols;
      if (r < nr) {
        row_codes(w.type, w.data + (p + r) * w.row_bytes, w.cols, ci, d, m);
      } else {
        std::memset(ci, 0, static_cast<size_t>(w.cols));
        std::fill(d, d + nb, 0.0f);
        std::fill(m, m + nb, 0.0f);
      }
      for (int64_t b = 0; b < nb; ++b) {
        pd[b * kRows + r] = d[b];
        pm[b * kRows + r] = m[b];
      }
    }
    // Block b of rows r0..r0+3: dwords j = 0..7 of each row -> step 8b + j, lanes r0..r0+3.
    for (int64_t b = 0; b < nb; ++b) {
      __m256i c[4];
      for (int i = 0; i < 4; ++i) c[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + i * w.cols + b * kBlock));
      const __m256i lo01 = _mm256_unpacklo_epi32(c[0], c[1]), hi01 = _mm256_unpackhi_epi32(c[0], c[1]);
      const __m256i lo23 = _mm256_unpacklo_epi32(c[2], c[3]), hi23 = _mm256_unpackhi_epi32(c[2], c[3]);
      // 128-bit lane h of q[k] holds dword 4h + k of the four rows.
      const __m256i q[4] = {_mm256_unpacklo_epi64(lo01, lo23), _mm256_unpackhi_epi64(lo01, lo23),
                            _mm256_unpacklo_epi64(hi01, hi23), _mm256_unpackhi_epi64(hi01, hi23)};
      uint8_t* dst = pc + b * (kBlock / 4) * kStepBytes + r0 * 4;
      for (int k = 0; k < 4; ++k) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + k * kStepBytes), _mm256_castsi256_si128(q[k]));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (4 + k) * kStepBytes), _mm256_extracti128_si256(q[k], 1));
      }
    }
  }
}

struct XView {
  const int8_t* q;
  const float* d;
  const float* s;
  const int32_t* z2;
  int64_t cols, nb;
};

// Where a tile reads its weights: codes(b, j, h) = the 64-byte vector of step j (4
// codes) of block b for rows 16h..16h+15; scale(b, q, h) / offset(b, h) their d_b /
// m_b (q: the half of the block, for kHalves types with a scale per 16 codes; else 0).
// A panel built from Rows weights (build_panel): f32 scales and offsets.
template <bool kOffsets>
struct BuiltPanel {
  static constexpr bool kOff = kOffsets;
  static constexpr bool kHalves = false;
  const uint8_t* pc;
  const float* pd;
  const float* pm;
  SHARDLM_VNNI __m512i codes(int64_t b, int j, int h) const {
    return _mm512_loadu_si512(pc + (b * (kBlock / 4) + j) * kStepBytes + h * 64);
  }
  SHARDLM_VNNI __m512 scale(int64_t b, int, int h) const { return _mm512_loadu_ps(pd + b * kRows + h * 16); }
  SHARDLM_VNNI __m512 offset(int64_t b, int h) const { return _mm512_loadu_ps(pm + b * kRows + h * 16); }
};

// A Panel32 panel as stored (gemm-int8.h). Q8_0 / Q4_0: per block 32 f16 scales,
// then the codes. Q4_K: per super-block (8 blocks) d, dmin (32 f16 each), sc and mn
// ([8][32] u8 each), then the codes of sub-block pairs.
template <DType kType>
struct StoredPanel {
  static constexpr bool kOff = kType == DType::Q4_K;
  static constexpr bool kHalves = false;
  static constexpr int64_t kBytes = kType == DType::Q8_0 ? 1088 : 576;  // per block (Q8_0, Q4_0)
  static constexpr int64_t kSuper = 4736, kSub = 576;  // Q4_K: per super-block, per sub-block
  const uint8_t* base;
  // The codes of block b start at base + block_off(b) + 64 (Q4_K: after sc and mn).
  SHARDLM_VNNI static int64_t block_off(int64_t b) {
    if constexpr (kType == DType::Q4_K)
      return (b / 8) * kSuper + 128 + (b % 8) * kSub;
    else
      return b * kBytes;
  }
  SHARDLM_VNNI __m512i codes(int64_t b, int j, int h) const {
    const uint8_t* c = base + block_off(b) + 64;
    if constexpr (kType == DType::Q8_0) {
      return _mm512_loadu_si512(c + j * kStepBytes + h * 64);
    } else {  // steps j and j + 4 share a byte: low and high nibble
      const __m512i raw = _mm512_loadu_si512(c + (j % 4) * kStepBytes + h * 64);
      return _mm512_and_si512(j < 4 ? raw : _mm512_srli_epi16(raw, 4), _mm512_set1_epi8(15));
    }
  }
  // 16 f16 at p -> f32; 16 u8 at q -> f32.
  SHARDLM_VNNI static __m512 f16x16(const uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  SHARDLM_VNNI static __m512 u8x16(const uint8_t* q) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q))));
  }
  SHARDLM_VNNI __m512 scale(int64_t b, int, int h) const {
    if constexpr (kType == DType::Q4_K)
      return _mm512_mul_ps(f16x16(base + (b / 8) * kSuper + h * 32), u8x16(base + block_off(b) + h * 16));
    else
      return f16x16(base + block_off(b) + h * 32);
  }
  SHARDLM_VNNI __m512 offset(int64_t b, int h) const {
    if constexpr (kType == DType::Q4_K) {
      const __m512 mn = u8x16(base + block_off(b) + 32 + h * 16);
      return _mm512_mul_ps(f16x16(base + (b / 8) * kSuper + 64 + h * 32), _mm512_sub_ps(_mm512_setzero_ps(), mn));
    } else {
      return _mm512_setzero_ps();
    }
  }
};

// Q6_K as stored (gemm-int8.h): per super-block 32 f16 d, then per block sc [2][32]
// int8 (one scale per half of 16), the low nibbles as Q4_0's codes, and the high two
// bits as crumbs: crumb k of byte i of (q, row) = bits 4-5 of the code of step 4q + k.
struct StoredQ6K {
  static constexpr bool kOff = false;
  static constexpr bool kHalves = true;
  static constexpr int64_t kSuper = 6720, kSub = 832;
  const uint8_t* base;
  SHARDLM_VNNI static int64_t block_off(int64_t b) { return (b / 8) * kSuper + 64 + (b % 8) * kSub; }
  SHARDLM_VNNI __m512i codes(int64_t b, int j, int h) const {
    const uint8_t* c = base + block_off(b) + 64;
    const __m512i raw = _mm512_loadu_si512(c + (j % 4) * kStepBytes + h * 64);
    const __m512i lo = _mm512_and_si512(j < 4 ? raw : _mm512_srli_epi16(raw, 4), _mm512_set1_epi8(15));
    const __m512i hv = _mm512_loadu_si512(c + 512 + (j / 4) * kStepBytes + h * 64);
    const int k = j % 4;  // crumb k -> bits 4-5: shift left by 4 - 2k (in 16-bit lanes; the mask drops what crosses bytes)
    const __m512i hs = k == 0 ? _mm512_slli_epi16(hv, 4) : k == 1 ? _mm512_slli_epi16(hv, 2) : k == 2 ? hv : _mm512_srli_epi16(hv, 2);
    return _mm512_ternarylogic_epi32(hs, _mm512_set1_epi8(0x30), lo, 0xEA);  // (hs & 0x30) | lo
  }
  // d * sc of half q of block b, rows 16h..16h+15.
  SHARDLM_VNNI __m512 scale(int64_t b, int q, int h) const {
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + (b / 8) * kSuper + h * 32)));
    const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + block_off(b) + q * 32 + h * 16));
    return _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc)));
  }
  SHARDLM_VNNI __m512 offset(int64_t, int) const { return _mm512_setzero_ps(); }
};

// y[t * ldy + (0..31)] = the panel's 32 rows . tokens t0 .. t0+T-1 (masked to the
// valid rows by k0, k1).
template <int T, class P>
SHARDLM_VNNI void tile(const P& pan, const XView& x, int64_t t0, float* y, int64_t ldy, __mmask16 k0, __mmask16 k1) {
  __m512 f[2][T];
#pragma GCC unroll 6
  for (int t = 0; t < T; ++t) f[0][t] = f[1][t] = _mm512_setzero_ps();
  const int8_t* xq = x.q + t0 * x.cols;
  for (int64_t b = 0; b < x.nb; ++b) {
    const int8_t* xb = xq + b * kBlock;
    // One integer sum per scale: the whole block, or (kHalves) each half of 16 codes.
    constexpr int kSeg = P::kHalves ? 2 : 1, kSteps = kBlock / 4 / kSeg;
#pragma GCC unroll 2
    for (int q = 0; q < kSeg; ++q) {
      __m512i a[2][T];
#pragma GCC unroll 6
      for (int t = 0; t < T; ++t) {
        const int32_t* z = x.z2 + 2 * ((t0 + t) * x.nb + b);
        a[0][t] = a[1][t] = _mm512_set1_epi32(P::kHalves ? z[q] : z[0] + z[1]);
      }
#pragma GCC unroll 8
      for (int j = q * kSteps; j < (q + 1) * kSteps; ++j) {
        const __m512i w0 = pan.codes(b, j, 0), w1 = pan.codes(b, j, 1);
#pragma GCC unroll 6
        for (int t = 0; t < T; ++t) {
          int32_t v;
          std::memcpy(&v, xb + t * x.cols + 4 * j, 4);
          const __m512i xv = _mm512_set1_epi32(v);
          a[0][t] = _mm512_dpbusd_epi32(a[0][t], w0, xv);
          a[1][t] = _mm512_dpbusd_epi32(a[1][t], w1, xv);
        }
      }
      const __m512 d0 = pan.scale(b, q, 0), d1 = pan.scale(b, q, 1);
#pragma GCC unroll 6
      for (int t = 0; t < T; ++t) {
        const __m512 dx = _mm512_set1_ps(x.d[(t0 + t) * x.nb + b]);
        f[0][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[0][t]), _mm512_mul_ps(d0, dx), f[0][t]);
        f[1][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[1][t]), _mm512_mul_ps(d1, dx), f[1][t]);
      }
    }
    if constexpr (P::kOff) {
      const __m512 m0 = pan.offset(b, 0), m1 = pan.offset(b, 1);
#pragma GCC unroll 6
      for (int t = 0; t < T; ++t) {
        const __m512 s = _mm512_set1_ps(x.s[(t0 + t) * x.nb + b]);
        f[0][t] = _mm512_fmadd_ps(m0, s, f[0][t]);
        f[1][t] = _mm512_fmadd_ps(m1, s, f[1][t]);
      }
    }
  }
#pragma GCC unroll 6
  for (int t = 0; t < T; ++t) {
    _mm512_mask_storeu_ps(y + t * ldy, k0, f[0][t]);
    _mm512_mask_storeu_ps(y + t * ldy + 16, k1, f[1][t]);
  }
}

template <class P>
SHARDLM_VNNI void tiles(const P& pan, const XView& x, int64_t n, float* y, int64_t ldy, __mmask16 k0, __mmask16 k1) {
  int64_t t0 = 0;
  for (; t0 + kT <= n; t0 += kT) tile<kT>(pan, x, t0, y + t0 * ldy, ldy, k0, k1);
  switch (n - t0) {
    case 1: tile<1>(pan, x, t0, y + t0 * ldy, ldy, k0, k1); break;
    case 2: tile<2>(pan, x, t0, y + t0 * ldy, ldy, k0, k1); break;
    case 3: tile<3>(pan, x, t0, y + t0 * ldy, ldy, k0, k1); break;
    case 4: tile<4>(pan, x, t0, y + t0 * ldy, ldy, k0, k1); break;
    case 5: tile<5>(pan, x, t0, y + t0 * ldy, ldy, k0, k1); break;
    default: break;
  }
}

XView x_view(const uint8_t* xp, int64_t n, int64_t cols) {
  const XLayout L(n, cols);
  return {reinterpret_cast<const int8_t*>(xp),         reinterpret_cast<const float*>(xp + L.d),
          reinterpret_cast<const float*>(xp + L.s),     reinterpret_cast<const int32_t*>(xp + L.z2),
          cols,                                         L.nb};
}

// Masks of the valid rows of a panel starting at row p of r1.
SHARDLM_VNNI inline void row_masks(int64_t p, int64_t r1, __mmask16* k0, __mmask16* k1) {
  const int64_t nr = std::min<int64_t>(kRows, r1 - p);
  *k0 = static_cast<__mmask16>(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
  *k1 = static_cast<__mmask16>(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
}

SHARDLM_VNNI void rows_int8(const WeightView& w, const uint8_t* xp, int64_t n, float* y, int64_t ldy, int64_t r0,
                            int64_t r1, uint8_t* pc, float* pd, float* pm, uint8_t* codes, float* d, float* m) {
  const XView x = x_view(xp, n, w.cols);
  for (int64_t p = r0; p < r1; p += kRows) {
    __mmask16 k0, k1;
    row_masks(p, r1, &k0, &k1);
    build_panel(w, p, static_cast<int>(std::min<int64_t>(kRows, r1 - p)), pc, pd, pm, codes, d, m);
    if (has_offset(w.type))
      tiles(BuiltPanel<true>{pc, pd, pm}, x, n, y + p, ldy, k0, k1);
    else
      tiles(BuiltPanel<false>{pc, pd, pm}, x, n, y + p, ldy, k0, k1);
  }
}

// Rows [r0, r1) of a Panel32 weight (r0 a multiple of 32) read through policy P.
template <class P>
SHARDLM_VNNI void rows_stored(const WeightView& w, const uint8_t* xp, int64_t n, float* y, int64_t ldy, int64_t r0,
                              int64_t r1) {
  const XView x = x_view(xp, n, w.cols);
  const size_t pb = panel_bytes(w.type, w.cols);
  for (int64_t p = r0; p < r1; p += kRows) {
    __mmask16 k0, k1;
    row_masks(p, r1, &k0, &k1);
    tiles(P{w.data + (p / kRows) * pb}, x, n, y + p, ldy, k0, k1);
  }
}

// For every (panel, super-block of 256, row of the panel): fn(out, r, blk) with out the
// panel's part for that super-block (out_bytes apart) and blk the row's block (in_bytes;
// zeros for a row past the end).
template <class Fn>
void for_each_super_row(const WeightView& w, size_t in_bytes, size_t out_bytes, uint8_t* dst, Fn fn) {
  const int64_t ns = w.cols / 256, panels = (w.rows + kRows - 1) / kRows;
  uint8_t blk[256];
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t sb = 0; sb < ns; ++sb)
      for (int r = 0; r < kRows; ++r) {
        const int64_t row = p * kRows + r;
        std::memset(blk, 0, in_bytes);
        if (row < w.rows) std::memcpy(blk, w.data + row * w.row_bytes + sb * in_bytes, in_bytes);
        fn(dst + (p * ns + sb) * out_bytes, r, blk);
      }
}

// Rows of a Q4_K weight -> Panel32 (layout in gemm-int8.h).
void pack_q4_k(const WeightView& w, uint8_t* dst) {
  for_each_super_row(w, 144, 4736, dst, [](uint8_t* o, int r, const uint8_t* blk) {
    std::memcpy(o + 2 * r, blk, 2);           // d
    std::memcpy(o + 64 + 2 * r, blk + 2, 2);  // dmin
    for (int u = 0; u < 8; ++u) {
      uint8_t* so = o + 128 + u * 576;  // sc [32], mn [32], codes [4 steps][32 rows][4]
      int sc, mn;
      scale_min_k4(u, blk + 4, &sc, &mn);
      so[r] = static_cast<uint8_t>(sc);
      so[32 + r] = static_cast<uint8_t>(mn);
      // Element e of sub-block u: nibble u % 2 of qs[32 (u / 2) + e].
      auto nib = [&](int e) { return (blk[16 + 32 * (u / 2) + e] >> (4 * (u % 2))) & 15; };
      for (int v = 0; v < 4; ++v)
        for (int i = 0; i < 4; ++i)
          so[64 + (v * kRows + r) * 4 + i] = static_cast<uint8_t>(nib(4 * v + i) | nib(16 + 4 * v + i) << 4);
    }
  });
}

// Rows of a Q6_K weight -> Panel32 (layout in gemm-int8.h; the same bytes as the rows).
void pack_q6_k(const WeightView& w, uint8_t* dst) {
  for_each_super_row(w, 210, 6720, dst, [](uint8_t* o, int r, const uint8_t* blk) {
    std::memcpy(o + 2 * r, blk + 208, 2);  // d
    uint8_t q[256];
    q6_k_codes(blk, q);
    for (int u = 0; u < 8; ++u) {
      uint8_t* so = o + 64 + u * 832;  // sc [2][32], low nibbles [4][32][4], crumbs [2][32][4]
      so[r] = blk[192 + 2 * u];
      so[32 + r] = blk[192 + 2 * u + 1];
      const uint8_t* e = q + 32 * u;
      for (int v = 0; v < 4; ++v)
        for (int i = 0; i < 4; ++i)
          so[64 + (v * kRows + r) * 4 + i] = static_cast<uint8_t>((e[4 * v + i] & 15) | (e[16 + 4 * v + i] & 15) << 4);
      for (int h = 0; h < 2; ++h)
        for (int i = 0; i < 4; ++i) {
          int c = 0;
          for (int k = 0; k < 4; ++k) c |= (e[4 * (4 * h + k) + i] >> 4) << (2 * k);
          so[576 + (h * kRows + r) * 4 + i] = static_cast<uint8_t>(c);
        }
    }
  });
}

// Rows of a packable weight -> Panel32 (layout in gemm-int8.h). Baseline code: it runs
// at load on every CPU that stores panels (AVX2 ones too).
void pack_weights(const WeightView& w, uint8_t* dst) {
  switch (w.type) {
    case DType::Q4_K: return pack_q4_k(w, dst);
    case DType::Q6_K: return pack_q6_k(w, dst);
    case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: return gemm_int8_detail::pack_q45_panels(w, dst);
    default: break;
  }
  const bool q8 = w.type == DType::Q8_0;
  const int64_t nb = w.cols / kBlock, bb = q8 ? 34 : 18, words = q8 ? 8 : 4;  // code dwords per row and block
  const int64_t panels = (w.rows + kRows - 1) / kRows;
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* o = dst + (p * nb + b) * kRows * bb;
      for (int r = 0; r < kRows; ++r) {
        const int64_t row = p * kRows + r;
        uint8_t blk[34] = {};  // a zero row past the end: d = 0, codes 0
        if (row < w.rows) std::memcpy(blk, w.data + row * w.row_bytes + b * bb, static_cast<size_t>(bb));
        std::memcpy(o + 2 * r, blk, 2);
        for (int64_t j = 0; j < words; ++j) {
          uint32_t v;
          std::memcpy(&v, blk + 2 + 4 * j, 4);
          if (q8) v ^= 0x80808080u;  // q + 128
          std::memcpy(o + 64 + (j * kRows + r) * 4, &v, 4);
        }
      }
    }
}

}  // namespace

void gemm_int8_pack_x(DType t, const float* x, int64_t n, int64_t cols, int64_t t0, int64_t t1, uint8_t* xp) {
  if (vnni())
    pack_x(zero_point(t), x, n, cols, t0, t1, xp);
  else
    gemm_int8_detail::pack_x_avx2(zero_point(t), x, n, cols, t0, t1, xp);
}

// Scratch lives in this baseline-compiled wrapper, so no standard-library template is
// instantiated inside an AVX-512 function.
void gemm_int8_rows(const WeightView& w, const uint8_t* xp, int64_t n, float* y, int64_t ldy, int64_t r0,
                    int64_t r1) {
  if (w.layout == WeightLayout::Panel32 && (!vnni() || gemm_int8_detail::avx2_panel_only(w.type))) {  // AVX2 tile
    gemm_int8_detail::rows_stored_avx2(w, panel_bytes(w.type, w.cols), xp, n, y, ldy, r0, r1, cpu_features().avx_vnni);
    return;
  }
  if (w.layout == WeightLayout::Panel32) {
    switch (w.type) {
      case DType::Q8_0: rows_stored<StoredPanel<DType::Q8_0>>(w, xp, n, y, ldy, r0, r1); break;
      case DType::Q4_0: rows_stored<StoredPanel<DType::Q4_0>>(w, xp, n, y, ldy, r0, r1); break;
      case DType::Q4_K: rows_stored<StoredPanel<DType::Q4_K>>(w, xp, n, y, ldy, r0, r1); break;
      default: rows_stored<StoredQ6K>(w, xp, n, y, ldy, r0, r1); break;
    }
    return;
  }
  thread_local std::vector<uint8_t> pc, codes;
  thread_local std::vector<float> pd, pm, d, m;
  const auto nb = static_cast<size_t>(w.cols / kBlock);
  pc.resize(static_cast<size_t>(w.cols) * kRows);
  pd.resize(nb * kRows);
  pm.resize(nb * kRows);
  codes.resize(static_cast<size_t>(w.cols) * 4);
  d.resize(nb);
  m.resize(nb);
  rows_int8(w, xp, n, y, ldy, r0, r1, pc.data(), pd.data(), pm.data(), codes.data(), d.data(), m.data());
}

void gemm_int8_pack_weights(const WeightView& w, uint8_t* dst) { pack_weights(w, dst); }

#else   // not x86-64: never supported, never called
void gemm_int8_pack_weights(const WeightView&, uint8_t*) {}
void gemm_int8_pack_x(DType, const float*, int64_t, int64_t, int64_t, int64_t, uint8_t*) {}
void gemm_int8_rows(const WeightView&, const uint8_t*, int64_t, float*, int64_t, int64_t, int64_t) {}
#endif

}  // namespace shardlm
