// Element-wise and per-row operations of the transformer layer.
#pragma once
#include <cstdint>
#include <vector>

namespace shardlm {

// Which components of a head form a RoPE pair.
//   Adjacent: (2i, 2i+1)  GGUF `llama` (Q/K rows permuted by the converter), llama2.c
//   Halves:   (i, i+D/2)  GGUF qwen2/qwen3, every Hugging Face checkpoint (rotate_half)
enum class RopeLayout { Adjacent, Halves };

// out[n, d] = x[n, d] / rms(x) * w[d]   (out may alias x)
void rmsnorm(const float* x, const float* w, int64_t n, int64_t d, float eps, float* out);

// RoPE parameters (the model's come from rope_params(HParams), model/hparams.h).
struct RopeParams {
  int head_dim = 0;
  int rope_dim = 0;                 // rotated components (first rope_dim of each head)
  RopeLayout layout = RopeLayout::Adjacent;
  std::vector<float> inv_freq;      // f32 [rope_dim/2], theta^(-2i/rope_dim) / factor[i]
  float pos_scale = 1.0f;           // 1 / linear scaling factor
  // freq_factors: f32 [rope_dim/2] divisors of the frequencies (Llama-3 scaling), or empty.
  static RopeParams make(int head_dim, int rope_dim, RopeLayout layout, float theta,
                         const std::vector<float>& freq_factors, float linear_factor);
};
// x[n, n_heads, head_dim] rotated in place; pos[n] the token positions.
void rope(float* x, int64_t n, int n_heads, const int32_t* pos, const RopeParams& p);

// gate[n] = silu(gate[n]) * up[n]
void silu_mul(float* gate, const float* up, int64_t n);

}  // namespace shardlm
