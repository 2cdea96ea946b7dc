// Float weights (F16, BF16, F32) against f32 activations with AVX2 + FMA + F16C, for
// every step size at the AVX2 kernel level (CPUs without AVX-512: AMD Zen 1-3, Intel
// clients; SHARDLM_ISA=avx2 elsewhere).
//
// Layout (WeightLayout::Rows8, packed at load by gemm_float_pack_weights): rows in
// groups of 8, the weight's own type kept (e = 2 bytes for F16/BF16, 4 for F32); group
// g holds, for each column k in order, the 8 rows' values (8e bytes):
//   data + g * cols * 8e + k * 8e + e * l = w[8g + l, k]; rows past the end are zero.
// One conversion (vcvtph2ps for F16, a zero-extend and shift for BF16, none for F32)
// then gives 8 rows' weights of one column, and a broadcast activation x[t, k]
// multiplies them: the rows sit in the lanes, so each loaded weight vector is applied to
// several tokens and each broadcast to several row groups, with nothing to reduce
// across lanes at the end. (The vec-dot kernels over the file's row layout keep k in the
// lanes: they load 8 weights and 8 activations per 8 products of a row and token pair
// and end every row with a horizontal sum, which on short rows (the test models' 128
// columns) costs as much as the products.)
//
// Math of one output y[t, r] = sum_k w[r, k] * x[t, k], the same for every tile shape
// and row range (so a row is bit-identical whatever else is in the step: matmul.h's
// batch invariance): acc = +0, then acc = fma(w[r, k], x[t, k], acc) for k = 0, 1, ...,
// cols - 1 in order, in f32 (w[r, k] exactly its f32 value). Against a double sum the
// error is at most about cols * 2^-24 * sum |w*x| (typically sqrt(cols) times that unit).
//
// Register tiles (G groups of 8 rows x T tokens): 2 x 6 (12 accumulators, 2 weight
// vectors, 1 broadcast) for the bulk of a step, 2 x 5, 2 x 4, 3 x 3, 4 x 2 for its last
// tokens and 8 x 1 for decode; a block of 64 rows stays in L2 while every token passes
// over it.
//
// Threads: pure; gemm_float_rows is called on disjoint ranges of whole groups.
#pragma once
#include <cstddef>
#include <cstdint>

#include "shardlm/kernels/matmul.h"

namespace shardlm {

// True for F16, BF16 and F32 at the AVX2 kernel level: cpu_features() has AVX2, FMA and
// F16C and not the AVX-512 level (best_isa == Isa::Avx2). AVX-512 machines keep their
// own kernels. The loader stores such matrices as Rows8 exactly when this holds.
bool gemm_float_supported(DType t);

constexpr int64_t kGemmFloatGroupRows = 8;

// Bytes of the Rows8 form of a [rows, cols] weight of type t (rows rounded up to 8).
size_t gemm_float_packed_weight_bytes(DType t, int64_t rows, int64_t cols);
// Rows-layout w (F16, BF16 or F32) -> dst (gemm_float_packed_weight_bytes) in Rows8.
// Baseline code.
void gemm_float_pack_weights(const WeightView& w, uint8_t* dst);

// y[t * ldy + r] = dot(row r of w, x[t, :]) for rows [r0, r1) of a Rows8 weight and
// every token t < n (x is [n, w.cols] f32). r0 a multiple of 8; r1 a multiple of 8 or
// w.rows. Only where gemm_float_supported(w.type) (a weight packed at load).
void gemm_float_rows(const WeightView& w, const float* x, int64_t n, float* y, int64_t ldy, int64_t r0, int64_t r1);

}  // namespace shardlm
