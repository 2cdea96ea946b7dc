// Multi-token matrix products in BF16 with f32 accumulation (AVX512-BF16 vdpbf16ps):
// the prompt-processing path for quantized and F16/BF16 weights.
//
// Prompt processing is compute-bound. vdpbf16ps does 32 multiply-adds per
// instruction with no per-block scale work, against 16 for f32 FMA (sgemm). A panel of
// weight rows is dequantized once to bf16 and then applied to every token of the step
// from cache. The types whose blocks are integer codes with one scale per 32 (or 16)
// elements go to the integer GEMM instead (gemm-int8.h: 64 multiply-adds per
// vpdpbusd, measured 1.3-1.6x faster): Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, and
// Q6_K when stored as panels. This one serves F16, BF16, Q6_K rows and the remaining
// dequantizable types.
//
// Layouts (a "pair" is two bf16 in one uint32: element 2j in the low half):
//   packed activations xp: [ceil(n/16)][cols/2][16] pairs — groups of 16 tokens,
//     token t of a group in lane t (tokens past n are zero);
//   weight panel (internal): 12 rows x a chunk of 512 columns, [12][256] pairs,
//     dequantized once per (12 rows, chunk) and applied to every token from L1.
// Register tile: 12 weight rows x 32 tokens (24 zmm accumulators); weight pairs are
// broadcast, 16 tokens per vector.
//
// Precision: weights and activations are rounded to bf16 (8 significant bits,
// relative error <= 2^-9 each) and the products summed in f32, so
// |y - y_exact| <= ~2^-8 * sum_k |w_k x_k| + f32 summation error. BF16 weights are
// exact; F16 and quantized weights lose their low bits (like the 8-bit activations of
// the integer decode kernels, this is below the models' own quantization error).
//
// Threads: pure functions; gemm_bf16_rows is called on disjoint row ranges from the
// pool's threads, each with its own internal scratch (thread_local).
#pragma once
#include <cstddef>
#include <cstdint>

#include "shardlm/kernels/matmul.h"

namespace shardlm {

// The CPU has AVX-512 F/BW/VL and AVX512-BF16 (cpu_features()).
bool gemm_bf16_supported();

// Elements (uint32 pairs) of the packed activations for n tokens of cols (even).
size_t gemm_bf16_packed_x_size(int64_t n, int64_t cols);
// x [n, cols] f32 -> xp (gemm_bf16_packed_x_size(n, cols) pairs). cols must be even.
void gemm_bf16_pack_x(const float* x, int64_t n, int64_t cols, uint32_t* xp);

// y[t * ldy + r] = dot(row r of w, token t) for rows [r0, r1) and every token t < n.
// w.cols must be even and w.type dequantizable (quant.h). Only call when
// gemm_bf16_supported().
void gemm_bf16_rows(const WeightView& w, const uint32_t* xp, int64_t n, float* y, int64_t ldy, int64_t r0,
                    int64_t r1);

// Rows per register tile (row ranges that are multiples of it waste nothing).
constexpr int64_t kGemmBf16TileRows = 12;

}  // namespace shardlm
