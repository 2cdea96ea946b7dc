// Paged causal attention (see attention.h).
//
// One job per (tile of a sequence's consecutive tokens, KV head): the query heads that
// share the KV head (GQA) and the tokens of a prompt chunk (up to 16) are processed
// together, so each cached K/V row is converted to f32 once per job rather than once
// per query head and token. The cache is walked a block at a time: the block's K and
// V rows of this KV head (one contiguous run each: blocks are head-major, kv-quant.h)
// are converted into small f32 buffers (F32 is read in place), every query head
// scores the block's positions, and the online softmax (running max m, sum l, output
// acc) is updated once per block.
//
// Vector paths: AVX2 + FMA + F16C (8 floats), and AVX-512 for the two inner products
// when the head size is 64 or 128; chosen at run time (cpu_features()). The scalar
// path is the reference. Both sum in a different order, so they agree to
// rounding (tests/test-kernels-ops.cpp checks both against a dense softmax).
//
// Quantized caches (F8_E4M3, I8; kernels/kv-quant.h) are read in place: each block's
// rows of the KV head are decoded straight from their one-byte codes and f16 scale
// into the same f32 buffers (kv_dequant_*: scalar, AVX2, AVX-512), so the attention
// reads half the bytes of an F16 cache and never keeps a dequantized copy.
#include "shardlm/kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "shardlm/core/cpu-features.h"
#include "shardlm/kernels/kv-quant.h"
#include "shardlm/kernels/quant.h"

#if defined(__x86_64__)
// GCC 12's AVX-512 headers initialize _mm*_undefined_* values from themselves, which
// -Wmaybe-uninitialized reports wherever they are inlined (GCC PR 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define SHARDLM_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

namespace shardlm {

namespace {

// ---- scalar row operations (the reference) ----
// load: dst[n] = the row at `row` as f32 (quantized rows times their scale `mul`).
void load_scalar(const uint8_t* row, DType t, float mul, int n, float* dst) {
  if (kv_dtype_quantized(t)) return kv_dequant_scalar(t, row, mul, n, dst);
  if (t == DType::F32) {
    std::memcpy(dst, row, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  const uint16_t* h = reinterpret_cast<const uint16_t*>(row);
  if (t == DType::F16)
    for (int d = 0; d < n; ++d) dst[d] = fp16_to_fp32(h[d]);
  else
    for (int d = 0; d < n; ++d) dst[d] = bf16_to_fp32(h[d]);
}
// store: a plain-type row (quantized rows go through kv_quantize_row).
void store_scalar(uint8_t* row, DType t, const float* x, int n) {
  if (t == DType::F32) {
    std::memcpy(row, x, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  uint16_t* h = reinterpret_cast<uint16_t*>(row);
  if (t == DType::F16)
    for (int d = 0; d < n; ++d) h[d] = fp32_to_fp16(x[d]);
  else
    for (int d = 0; d < n; ++d) h[d] = fp32_to_bf16(x[d]);
}
float dot_scalar(const float* a, const float* b, int n) {
  float s = 0;
  for (int d = 0; d < n; ++d) s += a[d] * b[d];
  return s;
}
void scale_scalar(float* acc, float c, int n) {
  for (int d = 0; d < n; ++d) acc[d] *= c;
}
// s[j] = dot(q, k row j) * scale for j < np (rows hd apart).
void scores_scalar(const float* q, const float* k, int np, int hd, float scale, float* s) {
  for (int j = 0; j < np; ++j) s[j] = dot_scalar(q, k + j * hd, hd) * scale;
}
// s[j] = exp(s[j] - m); returns the sum.
float expsum_scalar(float* s, int np, float m) {
  float sum = 0;
  for (int j = 0; j < np; ++j) sum += (s[j] = std::exp(s[j] - m));
  return sum;
}
// acc[d] += sum_j w[j] * v[j][d].
void accumulate_scalar(float* acc, const float* w, const float* v, int np, int hd) {
  for (int j = 0; j < np; ++j)
    for (int d = 0; d < hd; ++d) acc[d] += w[j] * v[j * hd + d];
}

#if defined(__x86_64__)
// ---- AVX2 + FMA + F16C ----
SHARDLM_AVX2 void load_avx2(const uint8_t* row, DType t, float mul, int n, float* dst) {
  int d = 0;
  if (kv_dtype_quantized(t)) return kv_dequant_avx2(t, row, mul, n, dst);
  if (t == DType::F32) {
    std::memcpy(dst, row, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  const uint16_t* h = reinterpret_cast<const uint16_t*>(row);
  if (t == DType::F16) {
    for (; d + 8 <= n; d += 8)
      _mm256_storeu_ps(dst + d, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + d))));
    for (; d < n; ++d) dst[d] = fp16_to_fp32(h[d]);
  } else {
    for (; d + 8 <= n; d += 8) {
      const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + d)));
      _mm256_storeu_ps(dst + d, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; d < n; ++d) dst[d] = bf16_to_fp32(h[d]);
  }
}
SHARDLM_AVX2 void store_avx2(uint8_t* row, DType t, const float* x, int n) {
  if (t != DType::F16) {  // F32 copy; BF16 (rare) through the scalar rounding
    store_scalar(row, t, x, n);
    return;
  }
  uint16_t* h = reinterpret_cast<uint16_t*>(row);
  int d = 0;
  for (; d + 8 <= n; d += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + d), _mm256_cvtps_ph(_mm256_loadu_ps(x + d), _MM_FROUND_TO_NEAREST_INT));
  for (; d < n; ++d) h[d] = fp32_to_fp16(x[d]);
}
SHARDLM_AVX2 inline float hsum_avx2(__m256 v) {
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}
SHARDLM_AVX2 float dot_avx2(const float* a, const float* b, int n) {
  __m256 s = _mm256_setzero_ps();
  int d = 0;
  for (; d + 8 <= n; d += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), _mm256_loadu_ps(b + d), s);
  float out = hsum_avx2(s);
  for (; d < n; ++d) out += a[d] * b[d];
  return out;
}
// Four rows at a time: four independent FMA chains instead of one long one.
SHARDLM_AVX2 void scores_avx2(const float* q, const float* k, int np, int hd, float scale, float* s) {
  int j = 0;
  if (hd % 8 == 0) {
    for (; j + 4 <= np; j += 4) {
      const float* k0 = k + j * hd;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int d = 0; d < hd; d += 8) {
        const __m256 qv = _mm256_loadu_ps(q + d);
        a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + hd + d), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 2 * hd + d), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 3 * hd + d), a3);
      }
      s[j] = hsum_avx2(a0) * scale;
      s[j + 1] = hsum_avx2(a1) * scale;
      s[j + 2] = hsum_avx2(a2) * scale;
      s[j + 3] = hsum_avx2(a3) * scale;
    }
  }
  for (; j < np; ++j) s[j] = dot_avx2(q, k + j * hd, hd) * scale;
}
// exp(x) for x <= 0 (scores minus their max), 8 at a time: x = n ln2 + r with
// |r| <= ln2/2, e^r by a degree-6 polynomial (relative error ~2e-7), 2^n through the
// exponent bits; below -87 the result is 0.
SHARDLM_AVX2 inline __m256 exp_neg_avx2(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.0f);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_max_ps(x, lo);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // ln2 split: hi + lo
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}
SHARDLM_AVX2 float expsum_avx2(float* s, int np, float m) {
  const __m256 mv = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  int j = 0;
  for (; j + 8 <= np; j += 8) {
    const __m256 e = exp_neg_avx2(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv));
    _mm256_storeu_ps(s + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  float out = hsum_avx2(sum);
  for (; j < np; ++j) out += (s[j] = std::exp(s[j] - m));
  return out;
}
// C vectors of acc (8 C dimensions) with their sums in registers across the positions:
// C independent chains of np FMAs, each the same operations in the same order as one
// vector at a time (which left one chain of dependent FMAs per vector, ~4 cycles each).
template <int C>
SHARDLM_AVX2 void accumulate_avx2_c(float* acc, const float* w, const float* v, int np, int hd) {
  __m256 a[C];
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) a[c] = _mm256_loadu_ps(acc + 8 * c);
  for (int j = 0; j < np; ++j) {
    const __m256 wj = _mm256_set1_ps(w[j]);
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) a[c] = _mm256_fmadd_ps(wj, _mm256_loadu_ps(v + j * hd + 8 * c), a[c]);
  }
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) _mm256_storeu_ps(acc + 8 * c, a[c]);
}
SHARDLM_AVX2 void accumulate_avx2(float* acc, const float* w, const float* v, int np, int hd) {
  int d = 0;
  for (; d + 64 <= hd; d += 64) accumulate_avx2_c<8>(acc + d, w, v + d, np, hd);
  for (; d + 8 <= hd; d += 8) accumulate_avx2_c<1>(acc + d, w, v + d, np, hd);
  for (; d < hd; ++d)
    for (int j = 0; j < np; ++j) acc[d] += w[j] * v[j * hd + d];
}
SHARDLM_AVX2 void scale_avx2(float* acc, float c, int n) {
  const __m256 cv = _mm256_set1_ps(c);
  int d = 0;
  for (; d + 8 <= n; d += 8) _mm256_storeu_ps(acc + d, _mm256_mul_ps(_mm256_loadu_ps(acc + d), cv));
  for (; d < n; ++d) acc[d] *= c;
}

// ---- AVX-512 (F): the two inner products, for head sizes 64 and 128 (the common ones;
// others use the AVX2 functions). Accumulators stay in registers across positions.
#define SHARDLM_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))
template <int HD>
SHARDLM_AVX512 void scores_avx512_hd(const float* q, const float* k, int np, float scale, float* s) {
  constexpr int C = HD / 16;
  __m512 qv[C];
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) qv[c] = _mm512_loadu_ps(q + 16 * c);
  int j = 0;
  for (; j + 4 <= np; j += 4) {
    const float* k0 = k + j * HD;
    __m512 a0 = _mm512_mul_ps(qv[0], _mm512_loadu_ps(k0)), a1 = _mm512_mul_ps(qv[0], _mm512_loadu_ps(k0 + HD)),
           a2 = _mm512_mul_ps(qv[0], _mm512_loadu_ps(k0 + 2 * HD)), a3 = _mm512_mul_ps(qv[0], _mm512_loadu_ps(k0 + 3 * HD));
#pragma GCC unroll 8
    for (int c = 1; c < C; ++c) {
      a0 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k0 + 16 * c), a0);
      a1 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k0 + HD + 16 * c), a1);
      a2 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k0 + 2 * HD + 16 * c), a2);
      a3 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k0 + 3 * HD + 16 * c), a3);
    }
    s[j] = _mm512_reduce_add_ps(a0) * scale;
    s[j + 1] = _mm512_reduce_add_ps(a1) * scale;
    s[j + 2] = _mm512_reduce_add_ps(a2) * scale;
    s[j + 3] = _mm512_reduce_add_ps(a3) * scale;
  }
  for (; j < np; ++j) {
    __m512 a = _mm512_mul_ps(qv[0], _mm512_loadu_ps(k + j * HD));
#pragma GCC unroll 8
    for (int c = 1; c < C; ++c) a = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k + j * HD + 16 * c), a);
    s[j] = _mm512_reduce_add_ps(a) * scale;
  }
}
SHARDLM_AVX512 void scores_avx512(const float* q, const float* k, int np, int hd, float scale, float* s) {
  if (hd == 64) return scores_avx512_hd<64>(q, k, np, scale, s);
  if (hd == 128) return scores_avx512_hd<128>(q, k, np, scale, s);
  scores_avx2(q, k, np, hd, scale, s);
}
template <int HD>
SHARDLM_AVX512 void accumulate_avx512_hd(float* acc, const float* w, const float* v, int np) {
  constexpr int C = HD / 16;
  __m512 a[C];
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) a[c] = _mm512_loadu_ps(acc + 16 * c);
  for (int j = 0; j < np; ++j) {
    const __m512 wj = _mm512_set1_ps(w[j]);
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) a[c] = _mm512_fmadd_ps(wj, _mm512_loadu_ps(v + j * HD + 16 * c), a[c]);
  }
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) _mm512_storeu_ps(acc + 16 * c, a[c]);
}
SHARDLM_AVX512 void load_avx512(const uint8_t* row, DType t, float mul, int n, float* dst) {
  if (kv_dtype_quantized(t)) return kv_dequant_avx512(t, row, mul, n, dst);
  load_avx2(row, t, mul, n, dst);
}
SHARDLM_AVX512 void accumulate_avx512(float* acc, const float* w, const float* v, int np, int hd) {
  if (hd == 64) return accumulate_avx512_hd<64>(acc, w, v, np);
  if (hd == 128) return accumulate_avx512_hd<128>(acc, w, v, np);
  accumulate_avx2(acc, w, v, np, hd);
}
#endif

// The row operations of one path.
struct RowOps {
  void (*load)(const uint8_t*, DType, float, int, float*);
  void (*store)(uint8_t*, DType, const float*, int);
  void (*scores)(const float*, const float*, int, int, float, float*);
  float (*expsum)(float*, int, float);
  void (*scale)(float*, float, int);
  void (*accumulate)(float*, const float*, const float*, int, int);
};

RowOps row_ops() {
#if defined(__x86_64__)
  const CpuFeatures f = cpu_features();
  if (f.avx512f && f.avx2 && f.fma && f.f16c)
    return {load_avx512, store_avx2, scores_avx512, expsum_avx2, scale_avx2, accumulate_avx512};
  if (f.avx2 && f.fma && f.f16c)
    return {load_avx2, store_avx2, scores_avx2, expsum_avx2, scale_avx2, accumulate_avx2};
#endif
  return {load_scalar, store_scalar, scores_scalar, expsum_scalar, scale_scalar, accumulate_scalar};
}

}  // namespace

size_t kv_elem_bytes(DType t) { return kv_block_layout(t, 1, 1, 1).elem_bytes; }

void kv_write(const KvLayerView& kv, const AttnTokens& t, const float* k_new, const float* v_new) {
  const RowOps ops = row_ops();
  const KvBlockLayout lay = kv_block_layout(kv.dtype, kv.block_size, kv.n_kv, kv.head_dim);
  const bool quant = kv_dtype_quantized(kv.dtype);
  const int hd = kv.head_dim, bs = kv.block_size, row = kv.n_kv * hd;
  for (int64_t i = 0; i < t.n; ++i) {
    const int32_t p = t.pos[i];
    const size_t block_at = static_cast<size_t>(t.block_table[i][p / bs]) * lay.block_bytes;
    const int j = p % bs;
    for (int c = 0; c < 2; ++c) {
      uint8_t* blk = static_cast<uint8_t*>(c == 0 ? kv.k : kv.v) + block_at;
      const float* x = (c == 0 ? k_new : v_new) + i * row;
      // Head g's row at position j: elements [n_kv, bs, hd], scales [n_kv, bs] after them.
      uint16_t* sc = reinterpret_cast<uint16_t*>(blk + lay.scale_offset);
      for (int g = 0; g < kv.n_kv; ++g) {
        const size_t cell = static_cast<size_t>(g) * bs + j;
        uint8_t* dst = blk + cell * hd * lay.elem_bytes;
        if (quant)
          sc[cell] = kv_quantize_row(kv.dtype, x + g * hd, hd, dst);
        else
          ops.store(dst, kv.dtype, x + g * hd, hd);
      }
    }
  }
}

void attention(const KvLayerView& kv, const AttnTokens& t, const float* q, int n_q, const int* q_to_kv,
               float* out, ThreadPool& pool) {
  const RowOps ops = row_ops();
  const int hd = kv.head_dim, bs = kv.block_size, n_kv = kv.n_kv;
  const KvBlockLayout lay = kv_block_layout(kv.dtype, bs, n_kv, hd);
  const bool quant = kv_dtype_quantized(kv.dtype);
  const size_t head_bytes = static_cast<size_t>(bs) * hd * lay.elem_bytes;  // one KV head's part of a block
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // Query heads of each KV head: heads[first[g] .. first[g+1]).
  std::vector<int> heads, first(static_cast<size_t>(n_kv) + 1, 0);
  for (int g = 0; g < n_kv; ++g) {
    first[static_cast<size_t>(g)] = static_cast<int>(heads.size());
    for (int h = 0; h < n_q; ++h)
      if (q_to_kv[h] == g) heads.push_back(h);
  }
  first[static_cast<size_t>(n_kv)] = static_cast<int>(heads.size());
  int max_group = 0;
  for (int g = 0; g < n_kv; ++g) max_group = std::max(max_group, first[g + 1] - first[g]);
  // Tiles: runs of up to tile_max consecutive tokens of one sequence (a prompt chunk), which
  // read the same blocks; each block's rows are converted once per tile, not per token.
  // Every token still walks its own blocks in order with its own row count, so its
  // result is the same whatever else is in the tile (batch invariance). Tiles shrink
  // when a chunk is short, so there are still about four jobs per thread.
  const int64_t tile_max = std::clamp<int64_t>(t.n * n_kv / (4 * std::max(1, pool.size())), 1, 16);
  std::vector<int64_t> tile_start;
  for (int64_t i = 0; i < t.n; ++i)
    if (tile_start.empty() || i - tile_start.back() >= tile_max || t.block_table[i] != t.block_table[i - 1])
      tile_start.push_back(i);
  const int64_t n_tiles = static_cast<int64_t>(tile_start.size());
  tile_start.push_back(t.n);

  pool.parallel_for(n_tiles * n_kv, 1, [&](int64_t b, int64_t e, int) {
    // kb, vb: [bs, hd] one block of this KV head; acc: [tile, group, hd]; m, l: [tile, group]; s: [bs].
    const size_t state = static_cast<size_t>(tile_max) * max_group;
    std::vector<float> kb(static_cast<size_t>(bs) * hd), vb(kb.size()), s(static_cast<size_t>(bs));
    std::vector<float> acc(state * hd), m(state), l(state);
    for (int64_t job = b; job < e; ++job) {
      const int64_t tile = job / n_kv;
      const int g = static_cast<int>(job % n_kv);
      const int h0 = first[static_cast<size_t>(g)], nh = first[static_cast<size_t>(g) + 1] - h0;
      if (nh == 0) continue;
      const int64_t i0 = tile_start[static_cast<size_t>(tile)], nt = tile_start[static_cast<size_t>(tile) + 1] - i0;
      const int32_t* bt = t.block_table[i0];
      int32_t max_pos = 0;
      for (int64_t u = 0; u < nt; ++u) max_pos = std::max(max_pos, t.pos[i0 + u] + 1);
      std::fill(acc.begin(), acc.end(), 0.0f);
      std::fill(m.begin(), m.end(), -std::numeric_limits<float>::infinity());
      std::fill(l.begin(), l.end(), 0.0f);
      for (int32_t p0 = 0; p0 < max_pos; p0 += bs) {
        const int np_all = std::min(bs, max_pos - p0);
        // This block's rows of KV head g as f32: one contiguous run [np_all, hd] each for
        // K and V (head-major blocks), quantized rows each with its own scale.
        const size_t at = static_cast<size_t>(bt[p0 / bs]) * lay.block_bytes;
        const uint8_t* kblk = static_cast<const uint8_t*>(kv.k) + at;
        const uint8_t* vblk = static_cast<const uint8_t*>(kv.v) + at;
        const uint8_t* kh = kblk + g * head_bytes;
        const uint8_t* vh = vblk + g * head_bytes;
        const float *kf = kb.data(), *vf = vb.data();
        if (kv.dtype == DType::F32) {  // read in place
          kf = reinterpret_cast<const float*>(kh);
          vf = reinterpret_cast<const float*>(vh);
        } else if (!quant) {
          ops.load(kh, kv.dtype, 1.0f, np_all * hd, kb.data());
          ops.load(vh, kv.dtype, 1.0f, np_all * hd, vb.data());
        } else {
          const uint16_t* ksc = reinterpret_cast<const uint16_t*>(kblk + lay.scale_offset) + static_cast<size_t>(g) * bs;
          const uint16_t* vsc = reinterpret_cast<const uint16_t*>(vblk + lay.scale_offset) + static_cast<size_t>(g) * bs;
          for (int j = 0; j < np_all; ++j) {
            const size_t off = static_cast<size_t>(j) * hd;
            ops.load(kh + off, kv.dtype, fp16_to_fp32(ksc[j]), hd, kb.data() + off);
            ops.load(vh + off, kv.dtype, fp16_to_fp32(vsc[j]), hd, vb.data() + off);
          }
        }
        for (int64_t u = 0; u < nt; ++u) {
          const int64_t i = i0 + u;
          const int np = std::min(bs, t.pos[i] + 1 - p0);  // this token's rows of the block
          if (np <= 0) continue;
          for (int a = 0; a < nh; ++a) {
            const int h = heads[static_cast<size_t>(h0 + a)];
            const size_t st = static_cast<size_t>(u) * max_group + a;
            const float* qh = q + (i * n_q + h) * hd;
            float* ac = acc.data() + st * hd;
            ops.scores(qh, kf, np, hd, scale, s.data());
            float mx = m[st];
            for (int j = 0; j < np; ++j) mx = std::max(mx, s[static_cast<size_t>(j)]);
            if (mx > m[st]) {
              const float c = std::exp(m[st] - mx);  // 0 on the first block
              l[st] *= c;
              ops.scale(ac, c, hd);
              m[st] = mx;
            }
            const float sum = ops.expsum(s.data(), np, mx);  // s becomes the weights
            ops.accumulate(ac, s.data(), vf, np, hd);
            l[st] += sum;
          }
        }
      }
      for (int64_t u = 0; u < nt; ++u)
        for (int a = 0; a < nh; ++a) {
          const int h = heads[static_cast<size_t>(h0 + a)];
          const size_t st = static_cast<size_t>(u) * max_group + a;
          float* o = out + ((i0 + u) * n_q + h) * hd;
          const float inv = 1.0f / l[st];
          for (int d = 0; d < hd; ++d) o[d] = acc[st * hd + d] * inv;
        }
    }
  });
}

}  // namespace shardlm
