// The make-model shape presets. Tiny shapes keep n_embd and n_ff multiples of 32 so
// Q8_0/Q4_0 apply, with n_ff = 160 (5 blocks of 32) so tensor-parallel splits on
// block boundaries are uneven across 2 and 4 ranks.
#include "shardlm/model/model-maker.h"

namespace shardlm {

namespace {
constexpr const char* kStories = "stories260K/stories260K.gguf";       // 512 tokens, llama SPM
constexpr const char* kLlama2 = "llama2-tokenizer/tokenizer.bin";     // 32000 tokens, llama SPM
}  // namespace

const std::vector<ModelPreset>& model_presets() {
  // name, arch, hf_arch, hf_model_type, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx,
  // rope_theta, norm_eps, tied, rope_factor, low, high, original_ctx, default_vocab, description
  static const std::vector<ModelPreset> t = {
      {"tiny-llama", "llama", "LlamaForCausalLM", "llama", 64, 2, 4, 2, 16, 160, 1024, 10000.0f, 1e-5f, false,
       0, 0, 0, 0, kStories, "Llama 2 shape: GQA 2, untied"},
      {"tiny-llama3", "llama", "LlamaForCausalLM", "llama", 64, 2, 4, 2, 16, 160, 512, 500000.0f, 1e-5f, false,
       8.0f, 1.0f, 4.0f, 64, kStories, "Llama 3 rope scaling (factor 8, original context 64), theta 5e5"},
      {"tiny-mistral", "llama", "MistralForCausalLM", "mistral", 128, 2, 8, 2, 16, 352, 1024, 1000000.0f, 1e-5f,
       false, 0, 0, 0, 0, kStories, "Mistral shape: 8 heads, 2 KV heads (GQA 4)"},
      {"tiny-mqa", "llama", "LlamaForCausalLM", "llama", 64, 2, 4, 1, 16, 160, 1024, 10000.0f, 1e-5f, false, 0,
       0, 0, 0, kStories, "multi-query attention: 1 KV head"},
      {"tiny-tied", "llama", "LlamaForCausalLM", "llama", 64, 2, 4, 2, 16, 160, 1024, 10000.0f, 1e-5f, true, 0,
       0, 0, 0, kStories, "tied embeddings (no output.weight)"},
      {"tiny-qwen2", "qwen2", "Qwen2ForCausalLM", "qwen2", 64, 2, 4, 2, 16, 160, 1024, 1000000.0f, 1e-6f, true,
       0, 0, 0, 0, kStories, "Qwen2: q/k/v biases, theta 1e6, tied"},
      {"tiny-qwen3", "qwen3", "Qwen3ForCausalLM", "qwen3", 64, 2, 4, 2, 32, 160, 1024, 1000000.0f, 1e-6f, true,
       0, 0, 0, 0, kStories, "Qwen3: per-head q/k RMSNorm, head_dim 32 != n_embd/n_head"},
      {"tiny-smollm", "llama", "LlamaForCausalLM", "llama", 96, 3, 6, 2, 16, 256, 1024, 10000.0f, 1e-5f, true, 0,
       0, 0, 0, kStories, "SmolLM shape: 3 layers, 6 heads, GQA 3, tied"},
      {"tinyllama-1.1b", "llama", "LlamaForCausalLM", "llama", 2048, 22, 32, 4, 64, 5632, 2048, 10000.0f, 1e-5f,
       false, 0, 0, 0, 0, kLlama2, "TinyLlama 1.1B shape, Llama 2 vocabulary (32000)"},
      {"qwen2.5-0.5b", "qwen2", "Qwen2ForCausalLM", "qwen2", 896, 24, 14, 2, 64, 4864, 32768, 1000000.0f, 1e-6f,
       true, 0, 0, 0, 0, "", "Qwen2.5 0.5B shape (needs --vocab-from)"},
  };
  return t;
}

const ModelPreset* find_model_preset(const std::string& name) {
  for (const auto& p : model_presets())
    if (name == p.name) return &p;
  return nullptr;
}

}  // namespace shardlm
