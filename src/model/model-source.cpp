#include "shardlm/model/model-source.h"

#include <sys/stat.h>

#include "shardlm/model/model-arch.h"
#include "model/source-gguf.h"
#include "model/source-hf.h"
#include "model/source-llama2c.h"

namespace shardlm {

static bool is_dir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

static bool has_suffix(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

Result<std::unique_ptr<ModelSource>> ModelSource::open(const std::string& path, const std::string& tokenizer_path) {
  Result<std::unique_ptr<ModelSource>> r = Status::error("unset");
  if (is_dir(path)) {
    r = open_hf_source(path);
  } else if (has_suffix(path, ".bin")) {
    r = open_llama2c_source(path, tokenizer_path);
  } else {
    r = open_gguf_source(path);
  }
  if (!r) return r;
  if (!tokenizer_path.empty()) r.value()->tokenizer_path_ = tokenizer_path;
  SHARDLM_TRY(r.value()->validate());
  return r;
}

Status ModelSource::validate() const {
  const HParams& h = hp_;
  auto bad = [&](const std::string& what) { return Status::errorf("{}: inconsistent model: {}", path_, what); };
  if (h.n_vocab <= 0 || h.n_embd <= 0 || h.n_layer <= 0 || h.n_head <= 0 || h.n_head_kv <= 0 || h.head_dim <= 0 ||
      h.n_ff <= 0)
    return bad("hyperparameters must be positive (" + h.summary() + ")");
  if (h.n_layer > 4096 || h.n_head > 4096 || h.n_embd > (1 << 20) || h.n_ff > (1 << 22) || h.n_vocab > (1 << 24))
    return bad("hyperparameters out of range (" + h.summary() + ")");
  if (h.n_head % h.n_head_kv != 0)
    return bad(fmt::format("{} heads is not a multiple of {} KV heads", h.n_head, h.n_head_kv));
  if (h.head_dim % 2 != 0 || h.rope_dim % 2 != 0 || h.rope_dim > h.head_dim || h.rope_dim <= 0)
    return bad(fmt::format("head_dim {} / rope_dim {} must be even and rope_dim <= head_dim", h.head_dim, h.rope_dim));
  if (!h.rope_freq_factors.empty() && static_cast<int>(h.rope_freq_factors.size()) != h.rope_dim / 2)
    return bad(fmt::format("rope_freqs has {} factors, expected {}", h.rope_freq_factors.size(), h.rope_dim / 2));
  if (!(h.norm_eps > 0) || !(h.rope_theta > 0)) return bad("norm epsilon and rope theta must be positive");

  auto need = [&](const std::string& name, std::vector<int64_t> shape) -> Status {
    const RawTensor* t = tensor(name);
    if (!t) return Status::errorf("{}: missing tensor '{}'", path_, name);
    if (t->shape != shape) {
      std::string got, want;
      for (auto d : t->shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      for (auto d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      return Status::errorf("{}: tensor '{}' has shape [{}], expected [{}]", path_, name, got, want);
    }
    return Status::ok();
  };
  SHARDLM_TRY(need(tensor_name("token_embd"), {h.n_vocab, h.n_embd}));
  SHARDLM_TRY(need(tensor_name("output_norm"), {h.n_embd}));
  if (!h.tied_embeddings) SHARDLM_TRY(need(tensor_name("output"), {h.n_vocab, h.n_embd}));
  for (int l = 0; l < h.n_layer; ++l) {
    SHARDLM_TRY(need(tensor_name("attn_norm", l), {h.n_embd}));
    SHARDLM_TRY(need(tensor_name("attn_q", l), {h.q_dim(), h.n_embd}));
    SHARDLM_TRY(need(tensor_name("attn_k", l), {h.kv_dim(), h.n_embd}));
    SHARDLM_TRY(need(tensor_name("attn_v", l), {h.kv_dim(), h.n_embd}));
    SHARDLM_TRY(need(tensor_name("attn_output", l), {h.n_embd, h.q_dim()}));
    if (h.qkv_bias) {
      SHARDLM_TRY(need(tensor_name("attn_q", l, "bias"), {h.q_dim()}));
      SHARDLM_TRY(need(tensor_name("attn_k", l, "bias"), {h.kv_dim()}));
      SHARDLM_TRY(need(tensor_name("attn_v", l, "bias"), {h.kv_dim()}));
    }
    if (h.qk_norm) {
      SHARDLM_TRY(need(tensor_name("attn_q_norm", l), {h.head_dim}));
      SHARDLM_TRY(need(tensor_name("attn_k_norm", l), {h.head_dim}));
    }
    SHARDLM_TRY(need(tensor_name("ffn_norm", l), {h.n_embd}));
    SHARDLM_TRY(need(tensor_name("ffn_gate", l), {h.n_ff, h.n_embd}));
    SHARDLM_TRY(need(tensor_name("ffn_up", l), {h.n_ff, h.n_embd}));
    SHARDLM_TRY(need(tensor_name("ffn_down", l), {h.n_embd, h.n_ff}));
  }
  return Status::ok();
}

}  // namespace shardlm
