// Model-intrinsic parameters (read from the model file), kept apart from runtime
// parameters (context size, threads, cache settings: see RuntimeConfig).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "shardlm/kernels/ops.h"

namespace shardlm {

struct HParams {
  std::string arch;          // family key in the arch table: "llama", "qwen2", "qwen3"
  std::string name;          // general.name or the directory name
  int n_vocab = 0;
  int n_embd = 0;
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;          // usually n_embd / n_head (Qwen3 differs)
  int n_ff = 0;
  int n_ctx_train = 2048;    // trained context length
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  int rope_dim = 0;          // rotated components per head (= head_dim)
  RopeLayout rope_layout = RopeLayout::Adjacent;
  float rope_linear_factor = 1.0f;        // positions are divided by this ("linear" scaling)
  std::vector<float> rope_freq_factors;   // f32 [rope_dim/2]: Llama-3 scaling, inv_freq[i] /= f[i]; empty = none
  bool qkv_bias = false;     // Qwen2: q/k/v have biases
  bool qk_norm = false;      // Qwen3: per-head RMSNorm of q and k before RoPE
  bool tied_embeddings = false;  // output projection = token embedding

  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_head_kv * head_dim; }
  std::string summary() const;
};

// Llama-3 rope scaling factors from the HF config parameters, one per frequency.
std::vector<float> llama3_rope_factors(int rope_dim, float theta, float factor, float low_freq_factor,
                                       float high_freq_factor, int original_context);

// The RoPE kernel's parameters for this model (theta, rotated dims, layout, scaling).
RopeParams rope_params(const HParams& h);

}  // namespace shardlm
