// Scalar reference (de)quantization for the GGML block formats.
//
// Block layouts (little-endian; `f16` an IEEE half, `f32` a float):
//   Q4_0  (32, 18)  f16 d | u8 qs[16]                 x = (q4 - 8) * d
//   Q4_1  (32, 20)  f16 d | f16 m | u8 qs[16]          x = q4 * d + m
//   Q5_0  (32, 22)  f16 d | u32 qh | u8 qs[16]         x = (q5 - 16) * d
//   Q5_1  (32, 24)  f16 d | f16 m | u32 qh | u8 qs[16] x = q5 * d + m
//   Q8_0  (32, 34)  f16 d | i8 qs[32]                  x = q * d
//     4-bit codes: element j < 16 is the low nibble of qs[j], element j + 16 the high
//     nibble; the 5th bit of element e is bit e of qh.
//   Q2_K (256, 84)  u8 scales[16] | u8 qs[64] | f16 d | f16 dmin
//   Q3_K (256, 110) u8 hmask[32] | u8 qs[64] | u8 scales[12] | f16 d
//   Q4_K (256, 144) f16 d | f16 dmin | u8 scales[12] | u8 qs[128]
//   Q5_K (256, 176) f16 d | f16 dmin | u8 scales[12] | u8 qh[32] | u8 qs[128]
//   Q6_K (256, 210) u8 ql[128] | u8 qh[64] | i8 scales[16] | f16 d
//   Q8_K (256, 292) f32 d | i8 qs[256] | i16 bsums[16]
//   (bit layouts of the K-quants are described at each function below.)
//
// Floating-point evaluation order follows GGML's reference C code (e.g. Q4_K computes
// d1 = d * sc once, then y = d1 * q - m1). Contraction into FMA is switched off for
// this file so the results are the same bits on every build, which lets the tests
// compare against an independent NumPy implementation exactly.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "shardlm/kernels/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/quant-k.h"

namespace shardlm {

namespace {

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}
inline void store_f16(uint8_t* p, float f) {
  uint16_t h = fp32_to_fp16(f);
  std::memcpy(p, &h, 2);
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

constexpr int64_t QK = 32;    // elements per legacy block
constexpr int64_t QK_K = 256; // elements per K-quant super-block

// ---- legacy 32-element blocks ---------------------------------------------------

void dq_q4_0(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 18, y += QK) {
    const float d = load_f16(b);
    const uint8_t* qs = b + 2;
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
      y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
    }
  }
}

void dq_q4_1(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 20, y += QK) {
    const float d = load_f16(b), m = load_f16(b + 2);
    const uint8_t* qs = b + 4;
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
      y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
    }
  }
}

void dq_q5_0(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 22, y += QK) {
    const float d = load_f16(b);
    const uint32_t qh = load_u32(b + 2);
    const uint8_t* qs = b + 6;
    for (int j = 0; j < 16; ++j) {
      const int x0 = static_cast<int>((qs[j] & 0x0F) | (((qh >> j) & 1u) << 4)) - 16;
      const int x1 = static_cast<int>((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16;
      y[j] = static_cast<float>(x0) * d;
      y[j + 16] = static_cast<float>(x1) * d;
    }
  }
}

void dq_q5_1(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 24, y += QK) {
    const float d = load_f16(b), m = load_f16(b + 2);
    const uint32_t qh = load_u32(b + 4);
    const uint8_t* qs = b + 8;
    for (int j = 0; j < 16; ++j) {
      const uint32_t x0 = (qs[j] & 0x0Fu) | (((qh >> j) & 1u) << 4);
      const uint32_t x1 = (qs[j] >> 4u) | (((qh >> (j + 16)) & 1u) << 4);
      y[j] = static_cast<float>(x0) * d + m;
      y[j + 16] = static_cast<float>(x1) * d + m;
    }
  }
}

void dq_q8_0(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 34, y += QK) {
    const float d = load_f16(b);
    const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(qs[j]) * d;
  }
}

// ---- K-quants (256-element super-blocks) ------------------------------------------

// Q2_K: 16 groups of 16 with a 4-bit scale (low nibble of scales[g]) and a 4-bit min
// (high nibble). In half h (128 elements), element 32*j + l (j < 4, l < 32) is
// (qs[32h + l] >> 2j) & 3, in group 8h + 2j + l/16.  x = d*sc * q - dmin*mn.
void dq_q2_k(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 84) {
    const uint8_t* scales = b;
    const uint8_t* q = b + 16;
    const float d = load_f16(b + 80), dmin = load_f16(b + 82);
    int is = 0;
    for (int h = 0; h < 2; ++h, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = scales[is++];
          const float dl = d * static_cast<float>(sc & 0xF);
          const float ml = dmin * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l)
            *y++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
        }
      }
    }
  }
}

// Q3_K: 16 groups of 16 with 6-bit scales stored minus 32: scale g has its low nibble
// in scales[g % 8] (low nibble for g < 8, high for g >= 8) and its top two bits at
// (scales[8 + g % 4] >> 2*(g / 4)) & 3. The two low bits of each code are laid out as
// in Q2_K; the code is lowered by 4 where bit (4h + j) of hmask[l] is clear.
// x = d * (sc - 32) * q.
void dq_q3_k(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 110) {
    const uint8_t* hm = b;
    const uint8_t* q = b + 32;
    const uint8_t* s = b + 96;
    const float d_all = load_f16(b + 108);
    int8_t scales[16];
    for (int g = 0; g < 16; ++g) {
      const int lo = g < 8 ? (s[g] & 0xF) : (s[g - 8] >> 4);
      const int hi = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
      scales[g] = static_cast<int8_t>((lo | (hi << 4)) - 32);
    }
    int is = 0;
    uint8_t m = 1;
    for (int h = 0; h < 2; ++h, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d_all * static_cast<float>(scales[is++]);
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int v = ((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4);
            *y++ = dl * static_cast<float>(v);
          }
        }
      }
    }
  }
}

// Q4_K: 8 sub-blocks of 32; bytes qs[32c .. 32c+31] hold sub-block 2c in their low
// nibbles and 2c+1 in their high nibbles.  x = d*sc * q - dmin*mn.
void dq_q4_k(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 144) {
    const float d = load_f16(b), dmin = load_f16(b + 2);
    const uint8_t* s = b + 4;
    const uint8_t* q = b + 16;
    for (int c = 0; c < 4; ++c, q += 32) {
      int sc, mn;
      scale_min_k4(2 * c, s, &sc, &mn);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
      scale_min_k4(2 * c + 1, s, &sc, &mn);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(mn);
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

// Q5_K: as Q4_K plus a 5th bit: for sub-block s it is bit s of qh[l].
void dq_q5_k(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 176) {
    const float d = load_f16(b), dmin = load_f16(b + 2);
    const uint8_t* s = b + 4;
    const uint8_t* qh = b + 16;
    const uint8_t* ql = b + 48;
    for (int c = 0; c < 4; ++c, ql += 32) {
      int sc, mn;
      scale_min_k4(2 * c, s, &sc, &mn);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
      scale_min_k4(2 * c + 1, s, &sc, &mn);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(mn);
      const int u1 = 2 * c, u2 = 2 * c + 1;
      for (int l = 0; l < 32; ++l)
        *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (((qh[l] >> u1) & 1) << 4)) - m1;
      for (int l = 0; l < 32; ++l)
        *y++ = d2 * static_cast<float>((ql[l] >> 4) + (((qh[l] >> u2) & 1) << 4)) - m2;
    }
  }
}

// Q6_K: two halves of 128; in half h with L = ql + 64h, H = qh + 32h and l < 32:
//   e = l      : lo4(L[l])    | ((H[l] >> 0) & 3) << 4
//   e = l + 32 : lo4(L[l+32]) | ((H[l] >> 2) & 3) << 4
//   e = l + 64 : hi4(L[l])    | ((H[l] >> 4) & 3) << 4
//   e = l + 96 : hi4(L[l+32]) | ((H[l] >> 6) & 3) << 4
// x = d * scales[(128h + e) / 16] * (q6 - 32).
void dq_q6_k(const uint8_t* b, float* y, int64_t nb) {
  uint8_t q[256];
  for (int64_t i = 0; i < nb; ++i, b += 210, y += 256) {
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
    const float d = load_f16(b + 208);
    q6_k_codes(b, q);
    for (int e = 0; e < 256; ++e) y[e] = d * static_cast<float>(sc[e / 16]) * static_cast<float>(q[e] - 32);
  }
}

void dq_q8_k(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 292, y += QK_K) {
    float d;
    std::memcpy(&d, b, 4);
    const int8_t* qs = reinterpret_cast<const int8_t*>(b + 4);
    for (int j = 0; j < 256; ++j) y[j] = d * static_cast<float>(qs[j]);
  }
}

// ---- quantization (GGML's reference rounding; the K-quants are in quant-k.cpp) -----

// Q8_0: d = amax / 127, q = round(x * (1/d)) (half away from zero).
void q_q8_0(const float* x, uint8_t* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += QK, b += 34) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(b, d);
    int8_t* qs = reinterpret_cast<int8_t*>(b + 2);
    for (int j = 0; j < 32; ++j) qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

// Q4_0: d = max / -8 with max the signed value of largest magnitude (so it maps to
// code 0), q = min(15, trunc(x * (1/d) + 8.5)).
void q_q4_0(const float* x, uint8_t* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += QK, b += 18) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(b, d);
    uint8_t* qs = b + 2;
    for (int j = 0; j < 16; ++j) {
      const int xi0 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
      const int xi1 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 8.5f)));
      qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
  }
}

// Q4_1: d = (max - min) / 15, m = min, q = min(15, trunc((x - min) * (1/d) + 0.5)).
void q_q4_1(const float* x, uint8_t* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += QK, b += 20) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < 32; ++j) {
      lo = std::min(lo, x[j]);
      hi = std::max(hi, x[j]);
    }
    const float d = (hi - lo) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(b, d);
    store_f16(b + 2, lo);
    uint8_t* qs = b + 4;
    for (int j = 0; j < 16; ++j) {
      const int xi0 = std::min(15, static_cast<int>(static_cast<int8_t>((x[j] - lo) * id + 0.5f)));
      const int xi1 = std::min(15, static_cast<int>(static_cast<int8_t>((x[j + 16] - lo) * id + 0.5f)));
      qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
  }
}

// Q5_0: as Q4_0 with 32 levels: d = max / -16, q = min(31, trunc(x * (1/d) + 16.5));
// bit 4 of element e's code goes to bit e of qh.
void q_q5_0(const float* x, uint8_t* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += QK, b += 22) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(b, d);
    uint32_t qh = 0;
    uint8_t* qs = b + 6;
    for (int j = 0; j < 16; ++j) {
      const int xi0 = std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f)));
      const int xi1 = std::min(31, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 16.5f)));
      qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>((xi0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((xi1 >> 4) & 1) << (j + 16);
    }
    std::memcpy(b + 2, &qh, 4);
  }
}

// Q5_1: d = (max - min) / 31, m = min, q = min(31, trunc((x - min) * (1/d) + 0.5)).
void q_q5_1(const float* x, uint8_t* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += QK, b += 24) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < 32; ++j) {
      lo = std::min(lo, x[j]);
      hi = std::max(hi, x[j]);
    }
    const float d = (hi - lo) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(b, d);
    store_f16(b + 2, lo);
    uint32_t qh = 0;
    uint8_t* qs = b + 8;
    for (int j = 0; j < 16; ++j) {
      const int xi0 = std::min(31, static_cast<int>(static_cast<int8_t>((x[j] - lo) * id + 0.5f)));
      const int xi1 = std::min(31, static_cast<int>(static_cast<int8_t>((x[j + 16] - lo) * id + 0.5f)));
      qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>((xi0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((xi1 >> 4) & 1) << (j + 16);
    }
    std::memcpy(b + 4, &qh, 4);
  }
}

}  // namespace

// ---- half / bfloat16 ------------------------------------------------------------

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0) {
    // zero or subnormal: mant * 2^-24, exact in float32
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return bits_f32(f32_bits(v) | sign);
  }
  if (exp == 31) return bits_f32(sign | 0x7F800000u | (mant << 13));  // inf / NaN (payload kept)
  return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t fp32_to_fp16(float f) {
  const uint32_t x = f32_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t a = x & 0x7FFFFFFFu;
  if (a > 0x7F800000u)  // NaN: keep the top payload bits, force quiet
    return static_cast<uint16_t>(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
  if (a >= 0x477FF000u)  // >= 65520 rounds to infinity (65504 is odd)
    return static_cast<uint16_t>(sign | 0x7C00u);
  if (a < 0x38800000u) {  // below 2^-14: half subnormal (or zero)
    const uint32_t e = a >> 23;
    if (e < 102) return static_cast<uint16_t>(sign);  // < 2^-25 (and float subnormals): 0
    const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;   // value = m * 2^(e-150)
    const uint32_t shift = 126 - e;                   // result units of 2^-24
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t h = (((a >> 23) - 112) << 10) | ((a >> 13) & 0x3FFu);
  const uint32_t rem = a & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;  // carries into the exponent
  return static_cast<uint16_t>(sign | h);
}

float bf16_to_fp32(uint16_t h) { return bits_f32(static_cast<uint32_t>(h) << 16); }

uint16_t fp32_to_bf16(float f) {
  const uint32_t x = f32_bits(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

// ---- dispatch -----------------------------------------------------------------------

bool can_dequantize(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::F64:
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::Q8_0:
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
    case DType::Q8_K:
      return true;
    default:
      return false;
  }
}

bool dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  if (!can_dequantize(t) || n < 0) return false;
  const auto* b = static_cast<const uint8_t*>(src);
  switch (t) {
    case DType::F32:
      std::memcpy(dst, b, static_cast<size_t>(n) * 4);
      return true;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = load_f16(b + 2 * i);
      return true;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, b + 2 * i, 2);
        dst[i] = bf16_to_fp32(h);
      }
      return true;
    case DType::F64:
      for (int64_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, b + 8 * i, 8);
        dst[i] = static_cast<float>(v);
      }
      return true;
    default:
      break;
  }
  const int64_t block = (t == DType::Q2_K || t == DType::Q3_K || t == DType::Q4_K || t == DType::Q5_K ||
                         t == DType::Q6_K || t == DType::Q8_K)
                            ? QK_K
                            : QK;
  if (n % block != 0) return false;
  const int64_t nb = n / block;
  switch (t) {
    case DType::Q4_0: dq_q4_0(b, dst, nb); break;
    case DType::Q4_1: dq_q4_1(b, dst, nb); break;
    case DType::Q5_0: dq_q5_0(b, dst, nb); break;
    case DType::Q5_1: dq_q5_1(b, dst, nb); break;
    case DType::Q8_0: dq_q8_0(b, dst, nb); break;
    case DType::Q2_K: dq_q2_k(b, dst, nb); break;
    case DType::Q3_K: dq_q3_k(b, dst, nb); break;
    case DType::Q4_K: dq_q4_k(b, dst, nb); break;
    case DType::Q5_K: dq_q5_k(b, dst, nb); break;
    case DType::Q6_K: dq_q6_k(b, dst, nb); break;
    case DType::Q8_K: dq_q8_k(b, dst, nb); break;
    default: return false;
  }
  return true;
}

bool can_quantize(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16:
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::Q8_0:
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

bool quantize_row(DType t, const float* src, void* dst, int64_t n) {
  if (!can_quantize(t) || n < 0) return false;
  auto* b = static_cast<uint8_t*>(dst);
  switch (t) {
    case DType::F32:
      std::memcpy(b, src, static_cast<size_t>(n) * 4);
      return true;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) store_f16(b + 2 * i, src[i]);
      return true;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_bf16(src[i]);
        std::memcpy(b + 2 * i, &h, 2);
      }
      return true;
    default:
      break;
  }
  const int64_t block = (t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K) ? QK_K : QK;
  if (n % block != 0) return false;
  const int64_t nb = n / block;
  switch (t) {
    case DType::Q8_0: q_q8_0(src, b, nb); break;
    case DType::Q4_0: q_q4_0(src, b, nb); break;
    case DType::Q4_1: q_q4_1(src, b, nb); break;
    case DType::Q5_0: q_q5_0(src, b, nb); break;
    case DType::Q5_1: q_q5_1(src, b, nb); break;
    case DType::Q4_K: quantize_q4_k_blocks(src, b, nb); break;
    case DType::Q5_K: quantize_q5_k_blocks(src, b, nb); break;
    case DType::Q6_K: quantize_q6_k_blocks(src, b, nb); break;
    default: return false;
  }
  return true;
}

void q6_k_codes(const uint8_t* b, uint8_t* q) {
  for (int h = 0; h < 2; ++h) {  // the element map above dq_q6_k
    const uint8_t* ql = b + 64 * h;
    const uint8_t* qh = b + 128 + 32 * h;
    uint8_t* o = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      o[l] = static_cast<uint8_t>((ql[l] & 15) | ((qh[l] & 3) << 4));
      o[l + 32] = static_cast<uint8_t>((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4));
      o[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      o[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
}

}  // namespace shardlm
