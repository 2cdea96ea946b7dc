// Matrix products against weights stored in any dequantizable type.
#pragma once
#include <cstddef>
#include <cstdint>

#include "shardlm/core/dtype.h"
#include "shardlm/core/thread-pool.h"

namespace shardlm {

// How a weight's bytes are arranged.
//   Rows: row r at data + r * row_bytes, in the type's own block layout.
//   Panel32: Q8_0 / Q4_0 / Q4_K / Q6_K (below AVX512-VNNI also Q4_1 / Q5_0 / Q5_1) rows
//     interleaved 32 at a time for the integer kernels
//     (gemm-int8.h: gemm_int8_pack_weights); rows padded to a multiple of 32.
//   Rows8: F16 / BF16 / F32 rows interleaved 8 at a time, column by column, for the
//     AVX2 float kernel (gemm-float.h: gemm_float_pack_weights); rows padded to a
//     multiple of 8.
enum class WeightLayout : uint8_t { Rows = 0, Panel32 = 1, Rows8 = 2 };

// A non-owning view of a 2-D weight [rows, cols].
struct WeightView {
  DType type = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;  // bytes of one row in the type (also for Panel32 and Rows8)
  const uint8_t* data = nullptr;
  WeightLayout layout = WeightLayout::Rows;
};

// Set BLAS to one thread: the pool owns parallelism (no oversubscription).
void kernels_init();

// Steps of at least this many tokens use a GEMM (gemm-int8.h, gemm-bf16.h) for non-F32
// weights when the CPU has AVX512-VNNI / AVX512-BF16.
constexpr int64_t kMatmulGemmMinTokens = 32;
// The integer GEMM on Rows weights builds a 32-row panel per step (about 6 one-token
// products' worth of work on the 1.1B shapes) and then beats the vec-dot kernels by
// about 5x per token: from this many tokens on it is faster (bench-kernels matmul/*).
constexpr int64_t kMatmulInt8MinTokens = 8;

// y[n, w.rows] = x[n, w.cols] · wᵀ. Rows of w are split over the pool.
//   - Panel32 weights (Q8_0 / Q4_0 / Q4_K / Q6_K repacked at load on CPUs with AVX2 or
//     better; Q4_1 / Q5_0 / Q5_1 on AVX2 CPUs without AVX512-VNNI), every step: the integer kernels of gemm-int8.h straight from the packed
//     panels (AVX512-VNNI, or the AVX2 tile of gemm-int8-avx2.cpp), so a step of B rows
//     reads each panel once.
//   - Steps of kMatmulInt8MinTokens or more on Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K,
//     Q5_K rows, on CPUs with AVX512-VNNI: the weight codes of 32 rows at a time
//     against 8-bit activations (gemm-int8.h).
//   - Steps of kMatmulGemmMinTokens or more (compute-bound prompt processing) on other
//     non-F32 weights, on CPUs with AVX512-BF16: weights dequantized a panel at a time
//     to bf16, activations to bf16, f32 accumulation (gemm-bf16.h).
//   - Rows8 weights (F16 / BF16 / F32 repacked at load at the AVX2 kernel level, no
//     AVX-512), every step in both modes: the register-tiled kernel of gemm-float.h
//     (its rows do not depend on n).
//   - Quantized weights (any step) and F32/F16/BF16 weights (steps of up to 16 tokens,
//     or any step in the batch-invariant mode): the activations are converted once to
//     the kernel's format (8-bit blocks, or f32) and each block of 16 weight rows is
//     read once and applied to every token, by the best vec-dot kernel for this CPU
//     (vec-dot.h): decode is memory-bound, so bytes of weights per token are what counts.
//   - Larger float steps with the mode off, or types with no kernel: BLAS sgemm/sgemv
//     (weights dequantized a sub-chunk at a time into per-thread scratch).
//
// Batch invariance (on by default; RuntimeConfig::batch_invariant, --no-batch-invariant):
// the rule is that token i's output row of matmul(w, x, n) is bit-identical to
// matmul(w, x + i * cols, 1) for every n, every other token in the step and every
// pool size, so greedy text does not depend on what shares a step (issue 19 point 1).
// In this mode every step size takes the one-token path: the vec-dot kernel of the
// type (activations quantized per token), one sgemv per token for types without a
// kernel, and Panel32's integer kernel and Rows8's AVX2 kernel (their rows do not
// depend on n). A
// multi-row kernel (an integer or BF16 GEMM) may be dispatched in this mode only if
// its rows are bit-identical to that one-token path: the same activation format
// (e.g. q8_0 blocks of 32, the same scale rounding), the same per-block float
// products and the same accumulation order. tests/test-kernels-batch-invariance.cpp
// checks every path dispatched here. With the mode off, steps of kMatmulInt8MinTokens
// or kMatmulGemmMinTokens tokens and float steps of more than 16 tokens use the GEMMs/sgemm below,
// whose rounding differs from the one-token path.
void matmul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);

// The process-wide batch-invariance mode (see above); each rank sets it from
// RuntimeConfig::batch_invariant when it loads a model.
void set_matmul_batch_invariant(bool on);
bool matmul_batch_invariant();

// Plain reference (double accumulation), for tests. Rows layout only.
void matmul_ref(const WeightView& w, const float* x, int64_t n, float* y);

}  // namespace shardlm
