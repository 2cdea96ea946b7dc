// Dot products of weight rows (GGML block layouts, see quant.h) with one activation
// vector, with the instruction-set path chosen at run time (core/cpu-features.h).
//
// Usage (one matrix-vector product): k = vec_dot_kernel(type); once per vector
// k.quantize(x, buf, n) into act_row_bytes(k, n) bytes (skip for act F32: pass x);
// then vec_dot_rows(k, n, rows, w, row_bytes, buf, y), split over threads by rows.
//
// Activations are quantized once per vector into an 8-bit "act" format that suits the
// weight type, then reused for every row:
//   Q8_0 (34 B / 32): f16 d | i8 q[32]                for Q8_0, Q4_0, Q5_0 weights
//   Q8_1 (36 B / 32): f16 d | f16 s | i8 q[32]        for Q4_1, Q5_1 (s = d16 * sum q)
//   Q8_K (292 B / 256): f32 d | i8 q[256] | i16 bsums[16] (sums of 16 q) for K-quants
//   F32: the float vector itself                       for F32, F16, BF16 weights
// The AVX2 / AVX-512 kernels of the 32-element types (Q8_0, Q4_0, Q5_0: Q8_0 codes;
// Q4_1, Q5_1: Q8_1 codes) read the same codes rearranged in groups of 8 blocks with f32
// scales and sums or s (their own `quantize`, see the .cpp files), and the AVX-512
// Q4_K / Q5_K kernels read the Q8_K codes with the 32-element sub-blocks reordered to
// match the weight nibbles, plus per-32 code sums and dx (288 B / 256, see
// vec-dot-avx512.cpp); the act buffer is therefore private to a kernel: fill it with
// that kernel's quantize.
// Our quantizers use d = amax/127 and q = round-to-nearest-even(x / d), so |q| <= 127
// (the sign-transfer tricks rely on activation codes never being -128). Every ISA's
// standard quantizer (quantize_act_fn) writes the same bytes as the scalar one.
//
// Integer paths compute exact integer sums per block, so an ISA path equals the
// scalar reference up to float summation order (per-block products (d_w*d_x)*isum,
// and offset terms like -8*d_w*d_x*sum(q_x), are added in a different order and with
// FMA; the difference is bounded by about (blocks + 64) * 2^-23 * S, S the sum of the
// magnitudes of the added products). F16/BF16/F32 paths expand the weights exactly to
// f32 and use FMA; same bound with n/8 + 64 terms. tests/test-kernels-vec-dot.cpp
// checks these bounds.
//
// Paths: scalar for every type; AVX2 (+FMA, F16C) and AVX-512 (F/BW/VL/DQ, with VNNI
// when present) for every type too: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K
// (integer dot products: maddubs, or vpdpbusd / vpdpwssd on AVX512-VNNI) and F16,
// BF16, F32 (one AVX-512 kernel for both AVX-512 levels: `isa` says Avx512). fn4: on
// the vector paths for the K-quants and the float types only; never on scalar.
//
// Threads: all functions are pure and reentrant; kernels may run on any thread.
#pragma once
#include <cstddef>
#include <cstdint>

#include "shardlm/core/cpu-features.h"
#include "shardlm/core/dtype.h"

namespace shardlm {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2, Avx512Vnni = 3 };
const char* isa_name(Isa isa);  // "scalar", "avx2", "avx512", "avx512vnni"
bool isa_available(Isa isa, const CpuFeatures& f);
Isa best_isa(const CpuFeatures& f);

// out[0] = dot(row w, activation x_act); n elements (a multiple of kernel.block).
using VecDotFn = void (*)(int64_t n, float* out, const void* w, const void* x_act);
// out[0..3] = the dots of 4 rows starting at w, row_bytes apart, with x_act.
using VecDot4Fn = void (*)(int64_t n, float* out, const void* w, size_t row_bytes, const void* x_act);
// Quantize n floats (a multiple of the act block) into the act format.
using QuantizeActFn = void (*)(const float* x, void* y, int64_t n);

struct VecDotKernel {
  DType weight = DType::F32;
  DType act = DType::F32;           // Q8_0, Q8_1, Q8_K, or F32 (pass the floats)
  int64_t block = 1;                // n must be a multiple of this (32, 256 or 1)
  VecDotFn fn = nullptr;            // null: no kernel for this type / ISA
  VecDot4Fn fn4 = nullptr;          // 4 interleaved rows, or null (see vec_dot_rows)
  QuantizeActFn quantize = nullptr; // f32 -> this kernel's act buffer; null when act == F32
  Isa isa = Isa::Scalar;            // the path fn actually uses
  // Act buffer layout: groups of act_group elements, act_group_bytes each (the last
  // group padded). The standard layouts above, or a kernel's own arrangement of the
  // same codes (the 32-element types on AVX2 / AVX-512: see their .cpp); always fill it with
  // `quantize` of the same kernel. Filled in by vec_dot_kernel().
  int64_t act_group = 0;
  size_t act_group_bytes = 0;
  explicit operator bool() const { return fn != nullptr; }
};

// The best kernel for this CPU (cpu_features()); empty for types without one.
VecDotKernel vec_dot_kernel(DType weight);
// The kernel of one path (tests, benchmarks): empty when cpu_features() lacks `isa`;
// a type without a kernel at that level gets the next lower one (see .isa).
VecDotKernel vec_dot_kernel(DType weight, Isa isa);

// Bytes of k's act buffer for n elements (F32: 4n).
size_t act_row_bytes(const VecDotKernel& k, int64_t n);
// Bytes of a standard act row (Q8_0, Q8_1, Q8_K, F32) for n elements.
size_t act_row_bytes(DType act, int64_t n);

// Activation quantizers (best path for this CPU; same bytes on every path).
// n must be a multiple of 32 (Q8_0, Q8_1) or 256 (Q8_K).
void quantize_row_q8_0(const float* x, void* y, int64_t n);
void quantize_row_q8_1(const float* x, void* y, int64_t n);
void quantize_row_q8_k(const float* x, void* y, int64_t n);
// One path's quantizer (null when unavailable); act F32 gives null.
QuantizeActFn quantize_act_fn(DType act, Isa isa);

// out[r] = dot(row r, x_act) for rows [0, rows); row r starts at w + r * row_bytes.
// Rows are streamed one after the other: measured on a Zen 4 EPYC, interleaving 4 rows
// (k.fn4) is up to 2x slower when the weights come from DRAM (four streams instead of
// one) though faster when they are cache-resident. Exception: float activations over
// 16 KB (n > 4096), which stop fitting in L1 beside the weights, use k.fn4 (5-10%
// faster from DRAM there).
void vec_dot_rows(const VecDotKernel& k, int64_t n, int64_t rows, const void* w, size_t row_bytes,
                  const void* x_act, float* out);

namespace vec_dot_detail {
// Implemented in src/kernels/vec-dot-avx2.cpp / vec-dot-avx512.cpp; only called when
// the CPU has the ISA. Return false when that file has no kernel for the type.
bool avx2_kernel(DType weight, VecDotKernel* k);
bool avx512_kernel(DType weight, bool vnni, VecDotKernel* k);
QuantizeActFn avx2_quantizer(DType act);
QuantizeActFn avx512_quantizer(DType act);
}  // namespace vec_dot_detail

}  // namespace shardlm
