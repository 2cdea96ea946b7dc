// make-model: write a model of a named shape with deterministic random weights and a
// real vocabulary, as a GGUF file or a Hugging Face directory.
//
// Every weight is generated in the Hugging Face layout ([n_out, n_in], Q/K in the
// "halves" RoPE layout) from (seed, HF tensor name, element index) by a counter-based
// generator (splitmix64; approximately normal by summing four 16-bit uniforms), so the
// bytes are identical run to run and machine to machine. A GGUF of arch `llama` gets
// Q/K rows (and biases) permuted within each head the way llama.cpp's converter does
// (HF row h*D + s*D/2 + j -> GGUF row h*D + 2j + s); qwen2/qwen3 GGUFs are not
// permuted. So the same preset and seed give the same model in both formats. With
// --dtype f16/bf16 every value (norms and biases too, though GGUF keeps those in F32)
// is rounded through that type first, so the two formats hold the same numbers.
//
// Initialisation keeps activations O(1): linears N(0, 1/n_in), embeddings and the
// output projection N(0, 1/n_embd), norm weights 1 + N(0, 0.05), biases N(0, 0.1).
// Quantized dtypes (q8_0, q4_0; GGUF only) apply to the 2-D weights (linears, token
// embedding, output); norms, biases and rope_freqs stay F32.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "shardlm/core/dtype.h"
#include "shardlm/core/status.h"

namespace shardlm {

struct MakeModelConfig {
  std::string preset;                        // a name from model_presets()
  DType dtype = DType::F32;                  // F32, F16, BF16, Q8_0, Q4_0 (quantized: gguf only)
  std::string format = "gguf";               // "gguf" (out is a file) or "hf" (out is a directory)
  std::string out;                           // output path
  std::string vocab_from;                    // GGUF (tokenizer.* copied), HF tokenizer.json or its
                                             // directory, or llama2.c tokenizer .bin; "" = the
                                             // preset's default under shared/models
  uint64_t seed = 1234;                      // weights seed
  std::string shared_dir;                    // where shared/models is; "" = search beside the
                                             // executable, the working directory and the source tree
  uint64_t max_shard_bytes = 2000000000ull;  // hf: safetensors shard size (0 = one file)
};

struct ModelPreset {
  const char* name;          // "tiny-llama"
  const char* arch;          // "llama", "qwen2", "qwen3" (GGUF general.architecture)
  const char* hf_arch;       // config.json architectures[0]
  const char* hf_model_type; // config.json model_type
  int n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
  int n_ctx;                 // context_length / max_position_embeddings
  float rope_theta;
  float norm_eps;
  bool tied;                 // output projection = token embedding (no output.weight / lm_head)
  // Llama-3 rope scaling (factor 0 = none).
  float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
  int rope_original_ctx;
  const char* default_vocab; // under shared/models ("" = --vocab-from required)
  const char* description;
};

const std::vector<ModelPreset>& model_presets();
const ModelPreset* find_model_preset(const std::string& name);

// What make_model would write, without generating weights.
struct PlannedTensor {
  std::string name;            // in the output format's naming
  DType type;
  std::vector<int64_t> shape;  // row-major, outermost first
  uint64_t nbytes;
};
struct ModelPlan {
  ModelPreset preset;
  std::string vocab_path;      // resolved vocabulary source
  int n_vocab = 0;
  std::vector<PlannedTensor> tensors;
  uint64_t total_bytes = 0;
};
// Resolves the preset and the vocabulary (reads it) and checks the config.
Result<ModelPlan> plan_model(const MakeModelConfig& cfg);

Status make_model(const MakeModelConfig& cfg);

// The generator, exposed for tests: element i of the tensor with this HF name, as a
// standard-normal-like value in [-3.47, 3.47] (before scaling).
float maker_normal(uint64_t seed, const std::string& hf_name, uint64_t i);

}  // namespace shardlm
