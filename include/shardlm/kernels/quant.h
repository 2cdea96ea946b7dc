// Scalar reference (de)quantization for the GGML block formats.
//
// Block layouts (all little-endian, d/m are IEEE half unless noted):
//   Q8_0: 32 elems, 34 B = f16 d, int8 q[32];          x = d*q
//   Q4_0: 32 elems, 18 B = f16 d, u8 qs[16];            x = d*(nibble-8),
//         element j<16 is the low nibble of qs[j], element j+16 the high nibble.
//   (further types documented in quant.cpp)
#pragma once
#include <cstddef>
#include <cstdint>

#include "shardlm/core/dtype.h"
#include "shardlm/core/status.h"

namespace shardlm {

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);   // round to nearest even
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);   // round to nearest even (NaN kept quiet)

// Convert n elements (a multiple of the type's block size) starting at a block
// boundary of src into float32. Supported: F32, F16, BF16, F64, Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0, Q2_K..Q6_K, Q8_K. Returns false for other types.
bool dequantize_row(DType t, const void* src, float* dst, int64_t n);
bool can_dequantize(DType t);

// Quantize n finite floats (multiple of the block size) into dst
// (dtype_row_bytes(t, n) bytes). Supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1 (GGML's reference rounding: codes from the block's min/max or signed absmax),
// Q4_K, Q5_K, Q6_K (a per-sub-block scale search, src/kernels/quant-k.cpp; no
// importance matrix). Guarantees, checked by tests/test-kernels-quant*.cpp:
//   - K-quants: every code is the nearest point of its sub-block's stored grid, so an
//     element inside the grid's range is within half a step (the search may leave a
//     few extreme values outside for a finer step: they are clamped to the end).
//   - relative RMS error on N(0, 1) rows: Q8_0 < 0.01, Q6_K < 0.025, Q5_K < 0.045,
//     Q5_0/Q5_1 < 0.06, Q4_K < 0.09, Q4_0/Q4_1 < 0.12.
// Pure functions: callable from any thread.
bool quantize_row(DType t, const float* src, void* dst, int64_t n);
bool can_quantize(DType t);

}  // namespace shardlm
