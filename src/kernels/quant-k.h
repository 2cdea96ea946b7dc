// K-quant encoders (Q4_K, Q5_K, Q6_K) behind quantize_row(); internal to the kernels
// module. Each writes nb super-blocks of 256 elements (layouts in quant.cpp / quant.h).
// Pure functions of their input: safe to call from any thread.
#pragma once
#include <cstdint>

namespace shardlm {

void quantize_q4_k_blocks(const float* x, uint8_t* dst, int64_t nb);
void quantize_q5_k_blocks(const float* x, uint8_t* dst, int64_t nb);
void quantize_q6_k_blocks(const float* x, uint8_t* dst, int64_t nb);

}  // namespace shardlm
