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

// Quantize n floats (multiple of the block size) into dst (dtype_row_bytes(t, n) bytes).
// Supported: F32, F16, BF16, Q8_0, Q4_0 (more types arrive with the fast-kernel work).
bool quantize_row(DType t, const float* src, void* dst, int64_t n);
bool can_quantize(DType t);

}  // namespace shardlm
