// KV cache element formats and the byte layout of one KV block.
//
// Plain formats: F32, F16, BF16 (values rounded to the type when written).
// Quantized formats, one byte an element plus one f16 scale per position and KV head:
//   F8_E4M3  OCP / NVIDIA e4m3fn: sign, 4 exponent bits (bias 7), 3 mantissa bits, no
//            infinities, S.1111.111 is NaN, largest finite 448, subnormals m·2⁻⁹.
//            Stored code = e4m3(x / scale), round to nearest even, scale = amax / 448.
//   I8       symmetric int8: code = rint(x / scale) in [-127, 127], scale = amax / 127.
// The scale is amax/qmax of the row (one KV head at one position) rounded UP to f16, so
// x / scale never exceeds qmax; amax 0 gives scale 0 and all codes 0. A value read back
// is decode(code) · scale. Scales are per position and head, so writing a position
// never touches the ones already in its block (a per-block scale would have to be
// re-derived, and the block re-quantized, when a later position is larger).
#pragma once
#include <cstddef>
#include <cstdint>

#include "shardlm/core/dtype.h"

namespace shardlm {

// One block of one layer's K (and, the same, V) on one rank, head-major:
//   [0, data bytes)          elements [n_kv, block_size, head_dim]
//   [scale_offset, +2·bs·n_kv) f16 scales [n_kv, block_size] (quantized formats only)
// Blocks follow each other block_bytes apart. Head-major, because attention reads one
// KV head's positions of a block at a time: they are one contiguous run (block_size ×
// head_dim elements) that the hardware prefetcher follows, where a position-major block
// put each head's rows n_kv rows apart.
struct KvBlockLayout {
  size_t elem_bytes = 0;    // 4 F32, 2 F16/BF16, 1 F8_E4M3/I8
  size_t scale_offset = 0;  // 0 when the format has no scales
  size_t block_bytes = 0;   // data + scales (+ padding of the data to 16 bytes)
};

// F32, F16, BF16, F8_E4M3 or I8.
bool kv_dtype_supported(DType t);
// F8_E4M3 or I8: rows carry a scale.
bool kv_dtype_quantized(DType t);
// "f32", "f16", "bf16", "fp8_e4m3", "int8" (the --kv-cache-dtype names); false if unknown.
bool kv_dtype_from_name(const char* name, DType* out);
KvBlockLayout kv_block_layout(DType t, int block_size, int n_kv, int head_dim);

// Scalar e4m3fn codec (the reference). Encode: round to nearest even, saturating to
// ±448 (NaN gives 0x7F).
uint8_t fp8_e4m3_from_float(float x);
float fp8_e4m3_to_float(uint8_t b);

// Quantizes x[n] (one head row) to codes q[n]; returns the f16 bits of its scale.
uint16_t kv_quantize_row(DType t, const float* x, int n, uint8_t* q);

// dst[d] = decode(q[d]) · mul for an F8_E4M3 or I8 row; mul = the row's scale as f32.
// Scalar reference and vector paths (the caller checks cpu_features()); all three give
// identical results (decoding is exact, one rounding in the product).
void kv_dequant_scalar(DType t, const uint8_t* q, float mul, int n, float* dst);
void kv_dequant_avx2(DType t, const uint8_t* q, float mul, int n, float* dst);    // AVX2 + F16C
void kv_dequant_avx512(DType t, const uint8_t* q, float mul, int n, float* dst);  // AVX-512 F + AVX2 + F16C

}  // namespace shardlm
