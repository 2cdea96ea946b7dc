// KV cache formats (see kv-quant.h): block layout, the scalar e4m3fn / int8 codecs,
// and the vector row decoders the attention kernels use.
//
// Vector decoding of e4m3: the 7 magnitude bits eeee.mmm placed at bits 13..7 of an
// IEEE half (sign at bit 15) give a half whose value is the e4m3 value · 2⁻⁸ — the
// exponent fields line up with biases 15 and 7, and e4m3 subnormals land on half
// subnormals — so F16C / AVX-512 convert them exactly and the factor 2⁸ folds into
// the row's scale (an exact power-of-two product).
#include "shardlm/kernels/kv-quant.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>

#include "shardlm/kernels/quant.h"

#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC PR 105593 (see attention.cpp)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

namespace shardlm {

namespace {

size_t round16(size_t n) { return (n + 15) / 16 * 16; }

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// amax / qmax rounded up to the next f16 (capped at the largest finite half).
uint16_t scale_up(float r) {
  if (!(r <= 65504.0f)) return 0x7BFF;
  uint16_t h = fp32_to_fp16(r);
  if (fp16_to_fp32(h) < r) ++h;  // positive halves are ordered as integers
  return h;
}

const std::array<float, 256>& e4m3_table() {
  static const std::array<float, 256> t = [] {
    std::array<float, 256> a{};
    for (int b = 0; b < 256; ++b) a[static_cast<size_t>(b)] = fp8_e4m3_to_float(static_cast<uint8_t>(b));
    return a;
  }();
  return t;
}

}  // namespace

bool kv_dtype_supported(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F8_E4M3 || t == DType::I8;
}

bool kv_dtype_quantized(DType t) { return t == DType::F8_E4M3 || t == DType::I8; }

bool kv_dtype_from_name(const char* name, DType* out) {
  static constexpr std::pair<std::string_view, DType> kNames[] = {
      {"f32", DType::F32}, {"f16", DType::F16}, {"bf16", DType::BF16}, {"fp8_e4m3", DType::F8_E4M3}, {"int8", DType::I8}};
  for (const auto& [n, t] : kNames)
    if (n == name) {
      *out = t;
      return true;
    }
  return false;
}

KvBlockLayout kv_block_layout(DType t, int block_size, int n_kv, int head_dim) {
  KvBlockLayout l;
  l.elem_bytes = t == DType::F32 ? 4 : kv_dtype_quantized(t) ? 1 : 2;
  const size_t cells = static_cast<size_t>(block_size) * static_cast<size_t>(n_kv);  // (position, head) pairs
  const size_t data = cells * static_cast<size_t>(head_dim) * l.elem_bytes;
  if (!kv_dtype_quantized(t)) {
    l.block_bytes = data;
    return l;
  }
  l.scale_offset = round16(data);
  l.block_bytes = round16(l.scale_offset + 2 * cells);
  return l;
}

uint8_t fp8_e4m3_from_float(float x) {
  const uint32_t u = bits_of(x);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80);
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return 0x7F;           // NaN
  if (a >= 0x43E00000u) return sign | 0x7E;   // |x| >= 448: saturate
  if (a < 0x3C800000u) {                       // |x| < 2^-6: subnormal, code = rint(|x| · 2^9)
    float m = 0;
    std::memcpy(&m, &a, 4);
    return sign | static_cast<uint8_t>(std::nearbyint(m * 512.0f));  // 8 is 2^-6, the first normal
  }
  const uint32_t r = a + 0x7FFFFu + ((a >> 20) & 1u);  // round the mantissa to 3 bits, ties to even
  const uint32_t e = (r >> 23) - 127 + 7, m = (r >> 20) & 7u;
  return sign | static_cast<uint8_t>(std::min<uint32_t>((e << 3) | m, 0x7E));
}

float fp8_e4m3_to_float(uint8_t b) {
  if ((b & 0x7F) == 0x7F) return std::numeric_limits<float>::quiet_NaN();
  const int e = (b >> 3) & 15, m = b & 7;
  const float v = e == 0 ? std::ldexp(static_cast<float>(m), -9) : std::ldexp(static_cast<float>(8 + m), e - 10);
  return (b & 0x80) ? -v : v;
}

uint16_t kv_quantize_row(DType t, const float* x, int n, uint8_t* q) {
  const float qmax = t == DType::F8_E4M3 ? 448.0f : 127.0f;
  float amax = 0;
  for (int d = 0; d < n; ++d) amax = std::max(amax, std::fabs(x[d]));
  const uint16_t s = amax > 0 ? scale_up(amax / qmax) : 0;
  const float sf = fp16_to_fp32(s);
  if (sf == 0) {
    std::memset(q, 0, static_cast<size_t>(n));
    return s;
  }
  if (t == DType::F8_E4M3) {
    for (int d = 0; d < n; ++d) q[d] = fp8_e4m3_from_float(x[d] / sf);
  } else {
    for (int d = 0; d < n; ++d) {
      const float v = x[d] / sf;
      const float r = v == v ? std::clamp(std::nearbyint(v), -127.0f, 127.0f) : 0.0f;
      q[d] = static_cast<uint8_t>(static_cast<int8_t>(r));
    }
  }
  return s;
}

void kv_dequant_scalar(DType t, const uint8_t* q, float mul, int n, float* dst) {
  if (t == DType::F8_E4M3) {
    const auto& tab = e4m3_table();
    for (int d = 0; d < n; ++d) dst[d] = tab[q[d]] * mul;
  } else {
    for (int d = 0; d < n; ++d) dst[d] = static_cast<float>(static_cast<int8_t>(q[d])) * mul;
  }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma,f16c"))) void kv_dequant_avx2(DType t, const uint8_t* q, float mul, int n, float* dst) {
  int d = 0;
  if (t == DType::F8_E4M3) {
    const __m256 m = _mm256_set1_ps(mul * 256.0f);
    const __m128i sgn = _mm_set1_epi16(0x80), mag = _mm_set1_epi16(0x7F);
    for (; d + 8 <= n; d += 8) {
      const __m128i w = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + d)));
      const __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(w, sgn), 8), _mm_slli_epi16(_mm_and_si128(w, mag), 7));
      _mm256_storeu_ps(dst + d, _mm256_mul_ps(_mm256_cvtph_ps(h), m));
    }
  } else {
    const __m256 m = _mm256_set1_ps(mul);
    for (; d + 8 <= n; d += 8) {
      const __m256i w = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + d)));
      _mm256_storeu_ps(dst + d, _mm256_mul_ps(_mm256_cvtepi32_ps(w), m));
    }
  }
  if (d < n) kv_dequant_scalar(t, q + d, mul, n - d, dst + d);
}

__attribute__((target("avx512f,avx2,fma,f16c"))) void kv_dequant_avx512(DType t, const uint8_t* q, float mul,
                                                                                  int n, float* dst) {
  int d = 0;
  if (t == DType::F8_E4M3) {
    const __m512 m = _mm512_set1_ps(mul * 256.0f);
    const __m256i sgn = _mm256_set1_epi16(0x80), mag = _mm256_set1_epi16(0x7F);
    for (; d + 16 <= n; d += 16) {
      const __m256i w = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + d)));
      const __m256i h =
          _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(w, sgn), 8), _mm256_slli_epi16(_mm256_and_si256(w, mag), 7));
      _mm512_storeu_ps(dst + d, _mm512_mul_ps(_mm512_cvtph_ps(h), m));
    }
  } else {
    const __m512 m = _mm512_set1_ps(mul);
    for (; d + 16 <= n; d += 16) {
      const __m512i w = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + d)));
      _mm512_storeu_ps(dst + d, _mm512_mul_ps(_mm512_cvtepi32_ps(w), m));
    }
  }
  if (d < n) kv_dequant_avx2(t, q + d, mul, n - d, dst + d);
}
#else
void kv_dequant_avx2(DType t, const uint8_t* q, float mul, int n, float* dst) { kv_dequant_scalar(t, q, mul, n, dst); }
void kv_dequant_avx512(DType t, const uint8_t* q, float mul, int n, float* dst) { kv_dequant_scalar(t, q, mul, n, dst); }
#endif

}  // namespace shardlm
