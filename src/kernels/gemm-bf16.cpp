// BF16 GEMM for multi-token steps (see gemm-bf16.h for layouts and precision).
//
// The library is compiled for the x86-64 baseline: every function that uses AVX-512
// carries SHARDLM_BF16 (a target attribute) and is only reached when
// gemm_bf16_supported(). GCC 12 and later provide the AVX512-BF16 intrinsics.
#include "shardlm/kernels/gemm-bf16.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "shardlm/core/cpu-features.h"
#include "shardlm/kernels/quant.h"

#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define SHARDLM_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")))
#endif

namespace shardlm {

bool gemm_bf16_supported() {
#if defined(__x86_64__)
  const CpuFeatures f = cpu_features();
  return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512_bf16;
#else
  return false;
#endif
}

size_t gemm_bf16_packed_x_size(int64_t n, int64_t cols) {
  const int64_t groups = (n + 15) / 16;
  return static_cast<size_t>(groups * (cols / 2) * 16);
}

#if defined(__x86_64__)
namespace {

constexpr int kR = static_cast<int>(kGemmBf16TileRows);  // weight rows per tile
constexpr int kLanes = 16;                                 // tokens per vector
constexpr int kKcPairs = 256;  // pairs per chunk of columns (512 elements: 2 K-quant blocks)

// pairs[j] = bf16(src[2j]) | bf16(src[2j+1]) << 16 for j < cols/2 (round to nearest even).
SHARDLM_BF16 void to_bf16_pairs(const float* src, int64_t cols, uint32_t* pairs) {
  int64_t k = 0;
  for (; k + 32 <= cols; k += 32) {
    const __m512 lo = _mm512_loadu_ps(src + k), hi = _mm512_loadu_ps(src + k + 16);
    const __m512bh b = _mm512_cvtne2ps_pbh(hi, lo);  // lanes 0-15 from lo, 16-31 from hi
    _mm512_storeu_si512(pairs + k / 2, reinterpret_cast<const __m512i&>(b));
  }
  for (; k + 1 < cols; k += 2)
    pairs[k / 2] = static_cast<uint32_t>(fp32_to_bf16(src[k])) | static_cast<uint32_t>(fp32_to_bf16(src[k + 1])) << 16;
}

// ne elements of one weight row (at a block boundary) -> ne/2 bf16 pairs. Direct
// vector paths for F16 and BF16 (the same values as dequantize_row, then rounded to
// bf16 like to_bf16_pairs); the rest through dequantize_row. rowf: ne floats.
SHARDLM_BF16 void row_to_bf16_pairs(DType t, const uint8_t* src, int64_t ne, uint32_t* pairs, float* rowf) {
  if (t == DType::BF16 && ne % 2 == 0) {  // already bf16, in pair order
    std::memcpy(pairs, src, static_cast<size_t>(ne) * 2);
    return;
  }
  if (t == DType::F16 && ne % 32 == 0) {
    for (int64_t k = 0; k < ne; k += 32) {
      const __m512 lo = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * k)));
      const __m512 hi = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * k + 32)));
      const __m512bh b = _mm512_cvtne2ps_pbh(hi, lo);
      _mm512_storeu_si512(pairs + k / 2, reinterpret_cast<const __m512i&>(b));
    }
    return;
  }
  dequantize_row(t, src, rowf, ne);
  to_bf16_pairs(rowf, ne, pairs);
}

// c[r][g * 16 + t] (+)= sum_j w[r][j] . x[g][j][t] over kc pairs, for G groups of 16
// tokens (gstride pairs apart) and the kR rows of the chunk w ([kR][kKcPairs] pairs;
// the constant stride keeps every weight address base + constant). first: start from
// zero instead of c.
template <int G>
SHARDLM_BF16 void tile(int64_t kc, const uint32_t* w, const uint32_t* x, int64_t gstride, float* c, bool first) {
  __m512 acc[kR][G];
#pragma GCC unroll 12
  for (int r = 0; r < kR; ++r)
#pragma GCC unroll 2
    for (int g = 0; g < G; ++g)
      acc[r][g] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + r * (G * kLanes) + g * kLanes);
  for (int64_t j = 0; j < kc; ++j) {
    __m512bh xv[G];
#pragma GCC unroll 2
    for (int g = 0; g < G; ++g) {
      const __m512i v = _mm512_loadu_si512(x + g * gstride + j * kLanes);
      xv[g] = reinterpret_cast<const __m512bh&>(v);
    }
#pragma GCC unroll 12
    for (int r = 0; r < kR; ++r) {
      const __m512i b = _mm512_set1_epi32(static_cast<int>(w[r * kKcPairs + j]));
      const __m512bh wb = reinterpret_cast<const __m512bh&>(b);
#pragma GCC unroll 2
      for (int g = 0; g < G; ++g) acc[r][g] = _mm512_dpbf16_ps(acc[r][g], wb, xv[g]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < kR; ++r)
#pragma GCC unroll 2
    for (int g = 0; g < G; ++g) _mm512_storeu_ps(c + r * (G * kLanes) + g * kLanes, acc[r][g]);
}

// pairs: scratch of cols/2.
SHARDLM_BF16 void pack_x(const float* x, int64_t n, int64_t cols, uint32_t* xp, uint32_t* pairs) {
  const int64_t kp = cols / 2, groups = (n + kLanes - 1) / kLanes;
  std::memset(xp, 0, static_cast<size_t>(groups * kp * kLanes) * sizeof(uint32_t));
  for (int64_t t = 0; t < n; ++t) {
    to_bf16_pairs(x + t * cols, cols, pairs);
    uint32_t* dst = xp + (t / kLanes) * kp * kLanes + t % kLanes;
    for (int64_t j = 0; j < kp; ++j) dst[j * kLanes] = pairs[j];
  }
}

// Scratch: rowf (2 * kKcPairs floats), panel (kR * kKcPairs pairs), c (ceil(n/16) *
// kR * 16 floats: the accumulators of every token group for the current panel).
SHARDLM_BF16 void rows_bf16(const WeightView& w, const uint32_t* xp, int64_t n, float* y, int64_t ldy, int64_t r0,
                            int64_t r1, float* rowf, uint32_t* panel, float* c) {
  const int64_t kp = w.cols / 2, groups = (n + kLanes - 1) / kLanes, chunk = 2 * kKcPairs;
  for (int64_t p = r0; p < r1; p += kR) {
    const int nr = static_cast<int>(std::min<int64_t>(kR, r1 - p));
    for (int64_t c0 = 0; c0 < w.cols; c0 += chunk) {
      const int64_t ne = std::min(chunk, w.cols - c0), kc = ne / 2;
      // This chunk of the panel's rows, dequantized once; rows past r1 are zero.
      const size_t off = dtype_row_bytes(w.type, c0);
      for (int r = 0; r < kR; ++r) {
        uint32_t* pr = panel + r * kKcPairs;
        if (r < nr) {
          row_to_bf16_pairs(w.type, w.data + (p + r) * w.row_bytes + off, ne, pr, rowf);
        } else {
          std::memset(pr, 0, static_cast<size_t>(kc) * sizeof(uint32_t));
        }
      }
      for (int64_t g = 0; g < groups; g += 2) {
        const uint32_t* xg = xp + g * kp * kLanes + (c0 / 2) * kLanes;
        if (g + 1 < groups)
          tile<2>(kc, panel, xg, kp * kLanes, c + g * kR * kLanes, c0 == 0);
        else
          tile<1>(kc, panel, xg, kp * kLanes, c + g * kR * kLanes, c0 == 0);
      }
    }
    for (int64_t g = 0; g < groups; g += 2) {
      const int64_t width = g + 1 < groups ? 2 * kLanes : kLanes, t0 = g * kLanes;
      const int64_t nt = std::min(width, n - t0);
      const float* cg = c + g * kR * kLanes;
      for (int64_t t = 0; t < nt; ++t)
        for (int r = 0; r < nr; ++r) y[(t0 + t) * ldy + p + r] = cg[r * width + t];
    }
  }
}

}  // namespace

// Scratch lives in these baseline-compiled wrappers, so no standard-library template
// is instantiated inside an AVX-512 function.
void gemm_bf16_pack_x(const float* x, int64_t n, int64_t cols, uint32_t* xp) {
  std::vector<uint32_t> pairs(static_cast<size_t>(cols / 2));
  pack_x(x, n, cols, xp, pairs.data());
}

void gemm_bf16_rows(const WeightView& w, const uint32_t* xp, int64_t n, float* y, int64_t ldy, int64_t r0,
                    int64_t r1) {
  thread_local std::vector<float> rowf, c;
  thread_local std::vector<uint32_t> panel;
  rowf.resize(2 * kKcPairs);
  panel.resize(static_cast<size_t>(kR) * kKcPairs);
  c.resize(static_cast<size_t>((n + kLanes - 1) / kLanes * kR * kLanes));
  rows_bf16(w, xp, n, y, ldy, r0, r1, rowf.data(), panel.data(), c.data());
}

#else   // not x86-64: never supported, never called
void gemm_bf16_pack_x(const float*, int64_t, int64_t, uint32_t*) {}
void gemm_bf16_rows(const WeightView&, const uint32_t*, int64_t, float*, int64_t, int64_t, int64_t) {}
#endif

}  // namespace shardlm
