// Dispatch and the scalar reference kernels (every weight type). The scalar kernels
// sum integer products exactly per block and accumulate the scaled block sums in
// double, so they are the reference the vector paths are tested against.
#include "shardlm/kernels/vec-dot.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "shardlm/kernels/quant.h"

namespace shardlm {

namespace {

constexpr int64_t QK = 32;
constexpr int64_t QK_K = 256;

inline float ld_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}
inline float ld_f32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}
inline uint32_t ld_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline int16_t ld_i16(const uint8_t* p) {
  int16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline void st_f16(uint8_t* p, float f) {
  const uint16_t h = fp32_to_fp16(f);
  std::memcpy(p, &h, 2);
}

// ---- activation quantizers ----------------------------------------------------------

// d = amax / 127, id = 1 / d, q = round-half-even(x * id); the vector quantizers use
// the same operations (IEEE division and multiplication, cvtps2dq) so the bytes agree.
inline float block_scale(const float* x, int64_t len, float* id) {
  float amax = 0.0f;
  for (int64_t j = 0; j < len; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  *id = d != 0.0f ? 1.0f / d : 0.0f;
  return d;
}
inline int8_t round_q(float v) { return static_cast<int8_t>(std::nearbyint(v)); }

void q8_0_scalar(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<uint8_t*>(vy);
  for (int64_t i = 0; i < n / QK; ++i, x += QK, y += 34) {
    float id;
    const float d = block_scale(x, QK, &id);
    st_f16(y, d);
    auto* q = reinterpret_cast<int8_t*>(y + 2);
    for (int j = 0; j < QK; ++j) q[j] = round_q(x[j] * id);
  }
}

void q8_1_scalar(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<uint8_t*>(vy);
  for (int64_t i = 0; i < n / QK; ++i, x += QK, y += 36) {
    float id;
    const float d = block_scale(x, QK, &id);
    st_f16(y, d);
    auto* q = reinterpret_cast<int8_t*>(y + 4);
    int sum = 0;
    for (int j = 0; j < QK; ++j) {
      q[j] = round_q(x[j] * id);
      sum += q[j];
    }
    st_f16(y + 2, ld_f16(y) * static_cast<float>(sum));
  }
}

void q8_k_scalar(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<uint8_t*>(vy);
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K, y += 292) {
    float id;
    const float d = block_scale(x, QK_K, &id);
    std::memcpy(y, &d, 4);
    auto* q = reinterpret_cast<int8_t*>(y + 4);
    for (int g = 0; g < 16; ++g) {
      int16_t sum = 0;
      for (int j = 16 * g; j < 16 * g + 16; ++j) {
        q[j] = round_q(x[j] * id);
        sum = static_cast<int16_t>(sum + q[j]);
      }
      std::memcpy(y + 260 + 2 * g, &sum, 2);
    }
  }
}

// ---- scalar kernels -------------------------------------------------------------------

// Legacy 32-blocks. `code(b, j)` is the weight's integer code of element j of block b
// (offset included); the result is sum_b (d_w * d_x) * isum_b (+ m_w * s_x for _1 types).
void dot_q8_0(int64_t n, float* out, const void* vw, const void* vx) {
  const auto* w = static_cast<const uint8_t*>(vw);
  const auto* x = static_cast<const uint8_t*>(vx);
  double acc = 0;
  for (int64_t i = 0; i < n / QK; ++i, w += 34, x += 34) {
    const auto* qw = reinterpret_cast<const int8_t*>(w + 2);
    const auto* qx = reinterpret_cast<const int8_t*>(x + 2);
    int isum = 0;
    for (int j = 0; j < 32; ++j) isum += qw[j] * qx[j];
    acc += static_cast<double>(ld_f16(w) * ld_f16(x)) * isum;
  }
  *out = static_cast<float>(acc);
}

void dot_q4_0(int64_t n, float* out, const void* vw, const void* vx) {
  const auto* w = static_cast<const uint8_t*>(vw);
  const auto* x = static_cast<const uint8_t*>(vx);
  double acc = 0;
  for (int64_t i = 0; i < n / QK; ++i, w += 18, x += 34) {
    const uint8_t* qs = w + 2;
    const auto* qx = reinterpret_cast<const int8_t*>(x + 2);
    int isum = 0;
    for (int j = 0; j < 16; ++j)
      isum += ((qs[j] & 0xF) - 8) * qx[j] + ((qs[j] >> 4) - 8) * qx[j + 16];
    acc += static_cast<double>(ld_f16(w) * ld_f16(x)) * isum;
  }
  *out = static_cast<float>(acc);
}

void dot_q4_1(int64_t n, float* out, const void* vw, const void* vx) {
  const auto* w = static_cast<const uint8_t*>(vw);
  const auto* x = static_cast<const uint8_t*>(vx);
  double acc = 0;
  for (int64_t i = 0; i < n / QK; ++i, w += 20, x += 36) {
    const uint8_t* qs = w + 4;
    const auto* qx = reinterpret_cast<const int8_t*>(x + 4);
    int isum = 0;
    for (int j = 0; j < 16; ++j) isum += (qs[j] & 0xF) * qx[j] + (qs[j] >> 4) * qx[j + 16];
    acc += static_cast<double>(ld_f16(w) * ld_f16(x)) * isum + static_cast<double>(ld_f16(w + 2) * ld_f16(x + 2));
  }
  *out = static_cast<float>(acc);
}

void dot_q5_0(int64_t n, float* out, const void* vw, const void* vx) {
  const auto* w = static_cast<const uint8_t*>(vw);
  const auto* x = static_cast<const uint8_t*>(vx);
  double acc = 0;
  for (int64_t i = 0; i < n / QK; ++i, w += 22, x += 34) {
    const uint32_t qh = ld_u32(w + 2);
    const uint8_t* qs = w + 6;
    const auto* qx = reinterpret_cast<const int8_t*>(x + 2);
    int isum = 0;
    for (int j = 0; j < 16; ++j) {
      const int v0 = static_cast<int>((qs[j] & 0xFu) | (((qh >> j) & 1u) << 4)) - 16;
      const int v1 = static_cast<int>((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16;
      isum += v0 * qx[j] + v1 * qx[j + 16];
    }
    acc += static_cast<double>(ld_f16(w) * ld_f16(x)) * isum;
  }
  *out = static_cast<float>(acc);
}

void dot_q5_1(int64_t n, float* out, const void* vw, const void* vx) {
  const auto* w = static_cast<const uint8_t*>(vw);
  const auto* x = static_cast<const uint8_t*>(vx);
  double acc = 0;
  for (int64_t i = 0; i < n / QK; ++i, w += 24, x += 36) {
    const uint32_t qh = ld_u32(w + 4);
    const uint8_t* qs = w + 8;
    const auto* qx = reinterpret_cast<const int8_t*>(x + 4);
    int isum = 0;
    for (int j = 0; j < 16; ++j) {
      const int v0 = static_cast<int>((qs[j] & 0xFu) | (((qh >> j) & 1u) << 4));
      const int v1 = static_cast<int>((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4));
      isum += v0 * qx[j] + v1 * qx[j + 16];
    }
    acc += static_cast<double>(ld_f16(w) * ld_f16(x)) * isum + static_cast<double>(ld_f16(w + 2) * ld_f16(x + 2));
  }
  *out = static_cast<float>(acc);
}

// The 6-bit (scale, min) pairs of the 8 sub-blocks of Q4_K / Q5_K (12 packed bytes).
void k4_scales(const uint8_t* s, int* sc, int* mn) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    mn[j] = s[j + 4] & 63;
    sc[j + 4] = (s[j + 8] & 0xF) | ((s[j] >> 6) << 4);
    mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4);
  }
}

// Q4_K / Q5_K: sum = dx * (d * sum_j sc_j * sum(q*x over sub-block j)
//                          - dmin * sum_j mn_j * sum(x over sub-block j)).
template <bool kQ5>
void dot_q45_k(int64_t n, float* out, const void* vw, const void* vx) {
  constexpr int kBytes = kQ5 ? 176 : 144;
  const auto* w = static_cast<const uint8_t*>(vw);
  const auto* x = static_cast<const uint8_t*>(vx);
  double acc = 0;
  for (int64_t i = 0; i < n / QK_K; ++i, w += kBytes, x += 292) {
    int sc[8], mn[8];
    k4_scales(w + 4, sc, mn);
    const uint8_t* qh = w + 16;
    const uint8_t* ql = w + (kQ5 ? 48 : 16);
    const auto* qx = reinterpret_cast<const int8_t*>(x + 4);
    int isum = 0, msum = 0;
    for (int j = 0; j < 8; ++j) {
      const uint8_t* q = ql + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      int s = 0;
      for (int l = 0; l < 32; ++l) {
        int v = (q[l] >> shift) & 0xF;
        if (kQ5) v |= ((qh[l] >> j) & 1) << 4;
        s += v * qx[32 * j + l];
      }
      isum += sc[j] * s;
      msum += mn[j] * (ld_i16(x + 260 + 4 * j) + ld_i16(x + 262 + 4 * j));
    }
    const float dx = ld_f32(x);
    acc += static_cast<double>(ld_f16(w) * dx) * isum - static_cast<double>(ld_f16(w + 2) * dx) * msum;
  }
  *out = static_cast<float>(acc);
}

// Q6_K: sum = d * dx * sum_g sc_g * sum((q6 - 32) * x over group g of 16).
void dot_q6_k(int64_t n, float* out, const void* vw, const void* vx) {
  const auto* w = static_cast<const uint8_t*>(vw);
  const auto* x = static_cast<const uint8_t*>(vx);
  double acc = 0;
  for (int64_t i = 0; i < n / QK_K; ++i, w += 210, x += 292) {
    const auto* sc = reinterpret_cast<const int8_t*>(w + 192);
    const auto* qx = reinterpret_cast<const int8_t*>(x + 4);
    int isum = 0;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* L = w + 64 * h;
      const uint8_t* H = w + 128 + 32 * h;
      int gs[8] = {};
      for (int l = 0; l < 32; ++l) {
        const int q0 = ((L[l] & 0xF) | (((H[l] >> 0) & 3) << 4)) - 32;
        const int q1 = ((L[l + 32] & 0xF) | (((H[l] >> 2) & 3) << 4)) - 32;
        const int q2 = ((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32;
        const int q3 = ((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32;
        const int8_t* xh = qx + 128 * h + l;
        gs[l / 16] += q0 * xh[0];
        gs[2 + l / 16] += q1 * xh[32];
        gs[4 + l / 16] += q2 * xh[64];
        gs[6 + l / 16] += q3 * xh[96];
      }
      for (int g = 0; g < 8; ++g) isum += sc[8 * h + g] * gs[g];
    }
    acc += static_cast<double>(ld_f16(w + 208) * ld_f32(x)) * isum;
  }
  *out = static_cast<float>(acc);
}

void dot_f32(int64_t n, float* out, const void* vw, const void* vx) {
  const auto* w = static_cast<const float*>(vw);
  const auto* x = static_cast<const float*>(vx);
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(w[i]) * x[i];
  *out = static_cast<float>(acc);
}

void dot_f16(int64_t n, float* out, const void* vw, const void* vx) {
  const auto* w = static_cast<const uint8_t*>(vw);
  const auto* x = static_cast<const float*>(vx);
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(ld_f16(w + 2 * i)) * x[i];
  *out = static_cast<float>(acc);
}

void dot_bf16(int64_t n, float* out, const void* vw, const void* vx) {
  const auto* w = static_cast<const uint8_t*>(vw);
  const auto* x = static_cast<const float*>(vx);
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, w + 2 * i, 2);
    acc += static_cast<double>(bf16_to_fp32(h)) * x[i];
  }
  *out = static_cast<float>(acc);
}

bool scalar_kernel(DType t, VecDotKernel* k) {
  k->weight = t;
  k->isa = Isa::Scalar;
  k->fn4 = nullptr;
  switch (t) {
    case DType::Q8_0: k->act = DType::Q8_0; k->fn = dot_q8_0; break;
    case DType::Q4_0: k->act = DType::Q8_0; k->fn = dot_q4_0; break;
    case DType::Q5_0: k->act = DType::Q8_0; k->fn = dot_q5_0; break;
    case DType::Q4_1: k->act = DType::Q8_1; k->fn = dot_q4_1; break;
    case DType::Q5_1: k->act = DType::Q8_1; k->fn = dot_q5_1; break;
    case DType::Q4_K: k->act = DType::Q8_K; k->fn = dot_q45_k<false>; break;
    case DType::Q5_K: k->act = DType::Q8_K; k->fn = dot_q45_k<true>; break;
    case DType::Q6_K: k->act = DType::Q8_K; k->fn = dot_q6_k; break;
    case DType::F32: k->act = DType::F32; k->fn = dot_f32; break;
    case DType::F16: k->act = DType::F32; k->fn = dot_f16; break;
    case DType::BF16: k->act = DType::F32; k->fn = dot_bf16; break;
    default: return false;
  }
  return true;
}

int64_t act_block(DType act) {
  switch (act) {
    case DType::Q8_0: case DType::Q8_1: return QK;
    case DType::Q8_K: return QK_K;
    default: return 1;
  }
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Vnni: return "avx512vnni";
  }
  return "?";
}

bool isa_available(Isa isa, const CpuFeatures& f) {
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return avx2;
    case Isa::Avx512: return avx512;
    case Isa::Avx512Vnni: return avx512 && f.avx512_vnni;
  }
  return false;
}

Isa best_isa(const CpuFeatures& f) {
  for (Isa i : {Isa::Avx512Vnni, Isa::Avx512, Isa::Avx2})
    if (isa_available(i, f)) return i;
  return Isa::Scalar;
}

QuantizeActFn quantize_act_fn(DType act, Isa isa) {
  if (!isa_available(isa, cpu_features())) return nullptr;
  QuantizeActFn fn = nullptr;
  if (isa == Isa::Avx512 || isa == Isa::Avx512Vnni) fn = vec_dot_detail::avx512_quantizer(act);
  if (!fn && isa != Isa::Scalar) fn = vec_dot_detail::avx2_quantizer(act);
  if (fn) return fn;
  switch (act) {
    case DType::Q8_0: return q8_0_scalar;
    case DType::Q8_1: return q8_1_scalar;
    case DType::Q8_K: return q8_k_scalar;
    default: return nullptr;
  }
}

VecDotKernel vec_dot_kernel(DType weight, Isa isa) {
  VecDotKernel k;
  if (!isa_available(isa, cpu_features())) return k;
  bool found = false;
  if (isa == Isa::Avx512 || isa == Isa::Avx512Vnni)
    found = vec_dot_detail::avx512_kernel(weight, isa == Isa::Avx512Vnni, &k);
  if (!found && isa != Isa::Scalar) found = vec_dot_detail::avx2_kernel(weight, &k);
  if (!found && !scalar_kernel(weight, &k)) return VecDotKernel{};
  k.weight = weight;
  k.block = std::max(act_block(k.act), static_cast<int64_t>(dtype_info(weight)->block));
  if (k.act_group == 0) {  // a standard act layout
    k.act_group = act_block(k.act);
    k.act_group_bytes = act_row_bytes(k.act, k.act_group);
    k.quantize = quantize_act_fn(k.act, isa);
  }
  return k;
}

VecDotKernel vec_dot_kernel(DType weight) { return vec_dot_kernel(weight, best_isa(cpu_features())); }

size_t act_row_bytes(DType act, int64_t n) { return act == DType::F32 ? 4 * static_cast<size_t>(n) : dtype_row_bytes(act, n); }

size_t act_row_bytes(const VecDotKernel& k, int64_t n) {
  if (k.act_group <= 0) return 0;
  return static_cast<size_t>((n + k.act_group - 1) / k.act_group) * k.act_group_bytes;
}

// Looked up per call (cheap), so set_cpu_features() is honoured.
void quantize_row_q8_0(const float* x, void* y, int64_t n) {
  quantize_act_fn(DType::Q8_0, best_isa(cpu_features()))(x, y, n);
}
void quantize_row_q8_1(const float* x, void* y, int64_t n) {
  quantize_act_fn(DType::Q8_1, best_isa(cpu_features()))(x, y, n);
}
void quantize_row_q8_k(const float* x, void* y, int64_t n) {
  quantize_act_fn(DType::Q8_K, best_isa(cpu_features()))(x, y, n);
}

void vec_dot_rows(const VecDotKernel& k, int64_t n, int64_t rows, const void* w, size_t row_bytes,
                  const void* x_act, float* out) {
  const auto* wb = static_cast<const uint8_t*>(w);
  int64_t r = 0;
  // Float activations longer than 16 KB no longer stay in L1 beside the weight stream:
  // reading them once for 4 rows is faster there (measured), one row at a time otherwise.
  if (k.fn4 && k.act == DType::F32 && n * 4 > (16 << 10))
    for (; r + 4 <= rows; r += 4) k.fn4(n, out + r, wb + r * row_bytes, row_bytes, x_act);
  for (; r < rows; ++r) k.fn(n, out + r, wb + r * row_bytes, x_act);
}

}  // namespace shardlm
