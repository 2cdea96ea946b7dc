// The model families, in one table (not forks): how each stores its tensors and
// which optional parts its layers have.
#pragma once
#include <string>
#include <vector>

#include "shardlm/model/hparams.h"

namespace shardlm {

struct ArchInfo {
  const char* key;                          // "llama", "qwen2", "qwen3" (= GGUF general.architecture)
  const char* families;                     // for people: which models use it
  std::vector<std::string> hf_architectures;  // config.json "architectures" entries
  RopeLayout gguf_rope;                     // GGUF layout (HF is always Halves)
  bool qkv_bias;                            // q/k/v projections have biases
  bool qk_norm;                             // per-head q/k RMSNorm
};

const std::vector<ArchInfo>& arch_table();
const ArchInfo* arch_by_key(const std::string& key);
const ArchInfo* arch_by_hf(const std::string& hf_architecture);

// Canonical (GGUF) tensor names, used throughout the engine. layer < 0: global tensor.
// Hugging Face names are derived from these by hf_tensor_name().
std::string tensor_name(const char* what, int layer = -1, const char* suffix = "weight");
std::string hf_tensor_name(const std::string& canonical);  // "" if unknown

}  // namespace shardlm
