// F16 weights against f32 activations with AVX2 + FMA + F16C, for every step size at the
// AVX2 kernel level (CPUs without AVX-512: AMD Zen 1-3, Intel clients; SHARDLM_ISA=avx2
// elsewhere): the weights are converted with vcvtph2ps inside the register tile (no
// conversion pass, no f32 copy of the weights) and each converted vector is applied to
// several tokens, so a step of B tokens reads and converts each weight row once per
// tile of tokens instead of once per token.
//
// Math of one output y[t, r] = sum_k w[r, k] * x[t, k], the same for every tile shape
// (so a row is bit-identical whatever else is in the step: matmul.h's batch invariance):
//   8 lanes, lane l accumulates k = l, l + 8, l + 16, ... in order with FMA (acc = w*x +
//   acc, starting at +0); a column tail (cols % 8) is one more FMA step on zero-padded
//   vectors; then the lanes are summed in a fixed tree: (l, l+4), then (l, l+2), then (0, 1).
// Against a double sum the error is about (cols/8 + 3) * 2^-24 * sum |w*x|.
//
// Register tiles: 8 rows x 1 token (decode), 6 x 2, 4 x 3 (12 accumulators): loads of
// weights, activations and the FMA ports stay balanced.
//
// Threads: pure; gemm_f16_rows is called on disjoint row ranges from the pool.
#pragma once
#include <cstdint>

#include "shardlm/kernels/matmul.h"

namespace shardlm {

// True at the AVX2 kernel level: cpu_features() has AVX2, FMA and F16C and not the
// AVX-512 level (best_isa == Isa::Avx2). AVX-512 machines keep their own kernels.
bool gemm_f16_supported();

// y[t * ldy + r] = dot(row r of w, x[t, :]) for rows [r0, r1) of an F16 Rows weight and
// every token t < n (x is [n, w.cols] f32). Any r0, r1, cols >= 1.
void gemm_f16_rows(const WeightView& w, const float* x, int64_t n, float* y, int64_t ldy, int64_t r0, int64_t r1);

}  // namespace shardlm
