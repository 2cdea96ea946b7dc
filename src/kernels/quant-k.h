// K-quant encoders (Q4_K, Q5_K, Q6_K) behind quantize_row(); internal to the kernels
// module. Each writes nb super-blocks of 256 elements (layouts in quant.cpp / quant.h).
// Pure functions of their input: safe to call from any thread.
#pragma once
#include <cstdint>

namespace shardlm {

void quantize_q4_k_blocks(const float* x, uint8_t* dst, int64_t nb);
void quantize_q5_k_blocks(const float* x, uint8_t* dst, int64_t nb);
void quantize_q6_k_blocks(const float* x, uint8_t* dst, int64_t nb);

// Format helpers shared by the dequantizers and the panel packer (gemm-int8.cpp).
// The 6-bit (scale, min) of sub-block j (0..7) packed in the 12 bytes of Q4_K/Q5_K.
inline void scale_min_k4(int j, const uint8_t* s, int* sc, int* mn) {
  if (j < 4) {
    *sc = s[j] & 63;
    *mn = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}
// The 6-bit codes (0..63) of one Q6_K super-block (210 bytes at b), in element order.
void q6_k_codes(const uint8_t* b, uint8_t* q);

}  // namespace shardlm
