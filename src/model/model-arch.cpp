#include "shardlm/model/model-arch.h"

#include <fmt/format.h>

namespace shardlm {

const std::vector<ArchInfo>& arch_table() {
  static const std::vector<ArchInfo> t = {
      {"llama", "Llama 1/2/3.x, TinyLlama, SmolLM, Mistral (GGUF converts them all to `llama`)",
       {"LlamaForCausalLM", "MistralForCausalLM"}, RopeLayout::Adjacent, false, false},
      {"mistral", "Mistral (some GGUF converters)", {}, RopeLayout::Adjacent, false, false},
      {"qwen2", "Qwen2, Qwen2.5 (q/k/v biases)", {"Qwen2ForCausalLM"}, RopeLayout::Halves, true, false},
      {"qwen3", "Qwen3 (per-head q/k RMSNorm)", {"Qwen3ForCausalLM"}, RopeLayout::Halves, false, true},
  };
  return t;
}

const ArchInfo* arch_by_key(const std::string& key) {
  for (const auto& a : arch_table())
    if (key == a.key) return &a;
  return nullptr;
}

const ArchInfo* arch_by_hf(const std::string& hf) {
  for (const auto& a : arch_table())
    for (const auto& h : a.hf_architectures)
      if (h == hf) return &a;
  return nullptr;
}

std::string tensor_name(const char* what, int layer, const char* suffix) {
  if (layer < 0) return fmt::format("{}.{}", what, suffix);
  return fmt::format("blk.{}.{}.{}", layer, what, suffix);
}

std::string hf_tensor_name(const std::string& c) {
  static const std::pair<const char*, const char*> kGlobal[] = {
      {"token_embd", "model.embed_tokens"}, {"output_norm", "model.norm"}, {"output", "lm_head"}};
  static const std::pair<const char*, const char*> kLayer[] = {
      {"attn_norm", "input_layernorm"},        {"attn_q", "self_attn.q_proj"},
      {"attn_k", "self_attn.k_proj"},          {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"},     {"attn_q_norm", "self_attn.q_norm"},
      {"attn_k_norm", "self_attn.k_norm"},     {"ffn_norm", "post_attention_layernorm"},
      {"ffn_gate", "mlp.gate_proj"},           {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"}};
  auto dot = c.rfind('.');
  if (dot == std::string::npos) return "";
  std::string base = c.substr(0, dot), suffix = c.substr(dot);
  if (base.rfind("blk.", 0) == 0) {
    auto d2 = base.find('.', 4);
    if (d2 == std::string::npos) return "";
    std::string layer = base.substr(4, d2 - 4), what = base.substr(d2 + 1);
    for (auto& [g, h] : kLayer)
      if (what == g) return fmt::format("model.layers.{}.{}{}", layer, h, suffix);
    return "";
  }
  for (auto& [g, h] : kGlobal)
    if (base == g) return h + suffix;
  return "";
}

}  // namespace shardlm
