#include "model/source-hf.h"

#include <map>

#include <nlohmann/json.hpp>

#include "shardlm/core/log.h"
#include "shardlm/kernels/quant.h"
#include "shardlm/model/hf-checkpoint.h"
#include "shardlm/model/mlx-quant.h"
#include "shardlm/model/model-arch.h"

namespace shardlm {

namespace {

// MLX quantized checkpoints: every quantized module (`<m>.scales` present) is
// dequantized to F32 when the source is opened and served from memory under
// `<m>.weight` in place of the packed U32 tensor (faster paths later). The buffers
// live as long as the source; tensor() is const and thread-safe after open.
class HfSource : public ModelSource {
 public:
  explicit HfSource(std::unique_ptr<HfCheckpoint> c) : ck_(std::move(c)) {}
  const char* format() const override { return "hf"; }
  const RawTensor* tensor(const std::string& canonical) const override {
    std::string n = hf_tensor_name(canonical);
    if (n.empty()) return nullptr;
    const RawTensor* t = find(n);
    // Tied models may store only one of embed_tokens / lm_head.
    if (!t && canonical == "token_embd.weight") t = find("lm_head.weight");
    return t;
  }
  uint64_t total_bytes() const override {  // as loaded: MLX modules count as F32
    uint64_t n = 0;
    for (const auto& name : ck_->names()) {
      const auto dot = name.rfind('.');
      const std::string suffix = dot == std::string::npos ? "" : name.substr(dot);
      if ((suffix == ".scales" || suffix == ".biases") && dq_.count(name.substr(0, dot) + ".weight")) continue;
      if (auto t = find(name)) n += t->nbytes;
    }
    return n;
  }
  // Drops the pages of a file-backed tensor from RSS (dequantized ones stay).
  void release(const RawTensor& t) const override {
    if (!dq_.count(t.name)) ck_->release(t);
  }
  Status init(const std::string& dir);

 private:
  struct Dequantized {
    RawTensor t;
    std::vector<uint8_t> data;  // t's bytes (Q4_1 or F16)
  };
  const RawTensor* find(const std::string& hf_name) const {
    auto it = dq_.find(hf_name);
    if (it != dq_.end()) return &it->second.t;
    return ck_->tensor(hf_name);
  }
  Status dequantize_mlx(const MlxQuantization& q);

  std::unique_ptr<HfCheckpoint> ck_;
  std::map<std::string, Dequantized> dq_;  // by HF weight name
};

Status HfSource::dequantize_mlx(const MlxQuantization& q) {
  const std::string suffix = ".scales";
  uint64_t packed = 0, expanded = 0;
  int as_q4_1 = 0;
  for (const auto& name : ck_->names()) {
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string module = name.substr(0, name.size() - suffix.size());
    const RawTensor* w = ck_->tensor(module + ".weight");
    const RawTensor* b = ck_->tensor(module + ".biases");
    const RawTensor* s = ck_->tensor(name);
    if (!w) return Status::errorf("{}: '{}' has no '{}.weight'", s->file, name, module);
    if (!b) return Status::errorf("{}: '{}.biases' is missing (affine MLX quantization)", s->file, module);
    auto spec = q.spec_of(module);
    if (!spec)
      return Status::errorf("{}: '{}' has scales but config.json says it is not quantized", s->file, module);
    // 4-bit: the same codes as Q4_1 blocks (exact). Otherwise (or when a scale does not
    // fit f16 exactly): dequantized and stored as F16.
    Dequantized& d = dq_[module + ".weight"];
    d.t.type = DType::Q4_1;
    auto q41 = spec->bits == 4 && spec->group_size % 32 == 0 ? mlx_to_q4_1(module, *w, *s, *b, *spec)
                                                           : Result<std::vector<uint8_t>>(Status::error("not 4-bit"));
    if (q41) {
      d.data = std::move(q41.value());
      ++as_q4_1;
    } else {
      if (spec->bits == 4 && spec->group_size % 32 == 0) LOG_WARN("{}; storing it as F16", q41.status().message());
      auto v = mlx_dequantize(module, *w, *s, *b, *spec);
      if (!v) return v.status();
      d.t.type = DType::F16;
      d.data.resize(v.value().size() * 2);
      if (!quantize_row(DType::F16, v.value().data(), d.data.data(), static_cast<int64_t>(v.value().size())))
        return Status::errorf("{}: cannot store '{}' as F16", s->file, module);
    }
    const int64_t n_in = s->shape[1] * spec->group_size;
    d.t.name = module + ".weight";
    d.t.shape = {w->shape[0], n_in};
    d.t.data = d.data.data();
    d.t.nbytes = d.data.size();
    d.t.file = w->file;
    packed += w->nbytes + s->nbytes + b->nbytes;
    expanded += d.t.nbytes;
  }
  LOG_INFO("{}: MLX affine quantization ({} bits, group size {}{}): {} modules, {} as Q4_1 (same codes), {} as F16 "
           "({:.1f} MiB -> {:.1f} MiB)",
           ck_->dir(), q.global.bits, q.global.group_size, q.modules.empty() ? "" : ", per-module overrides",
           dq_.size(), as_q4_1, static_cast<int>(dq_.size()) - as_q4_1, packed / 1048576.0, expanded / 1048576.0);
  return Status::ok();
}

Status HfSource::init(const std::string& dir) {
  path_ = dir;
  tokenizer_path_ = dir;
  const nlohmann::json& c = ck_->config();
  auto bad = [&](const std::string& w) { return Status::errorf("{}/config.json: {}", dir, w); };
  if (!c.is_object()) return bad("not a JSON object");
  auto mq = parse_mlx_quantization(c);
  if (!mq) return bad(mq.status().message());
  if (*mq) SHARDLM_TRY(dequantize_mlx(**mq));
  const ArchInfo* ai = nullptr;
  if (c.contains("architectures") && c["architectures"].is_array())
    for (const auto& a : c["architectures"])
      if (a.is_string() && (ai = arch_by_hf(a.get<std::string>()))) break;
  if (!ai && c.contains("model_type") && c["model_type"].is_string()) {
    std::string mt = c["model_type"].get<std::string>();
    ai = arch_by_key(mt == "mistral" ? "llama" : mt);
  }
  if (!ai) return bad("unsupported architecture (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)");
  HParams& h = hp_;
  h.arch = ai->key == std::string("mistral") ? "llama" : ai->key;
  h.name = dir.substr(dir.find_last_of('/') == std::string::npos ? 0 : dir.find_last_of('/') + 1);

  auto geti = [&](const char* k, std::optional<int64_t> def) -> Result<int> {
    if (!c.contains(k) || c[k].is_null()) {
      if (def) return static_cast<int>(*def);
      return bad(fmt::format("missing '{}'", k));
    }
    if (!c[k].is_number_integer()) return bad(fmt::format("'{}' must be an integer", k));
    int64_t v = c[k].get<int64_t>();
    if (v < 0 || v > (1ll << 30)) return bad(fmt::format("'{}' = {} out of range", k, v));
    return static_cast<int>(v);
  };
  auto getf = [&](const char* k, double def) -> Result<double> {
    if (!c.contains(k) || c[k].is_null()) return def;
    if (!c[k].is_number()) return bad(fmt::format("'{}' must be a number", k));
    return c[k].get<double>();
  };
  auto r_embd = geti("hidden_size", std::nullopt);
  auto r_layer = geti("num_hidden_layers", std::nullopt);
  auto r_head = geti("num_attention_heads", std::nullopt);
  auto r_ff = geti("intermediate_size", std::nullopt);
  for (auto* r : {&r_embd, &r_layer, &r_head, &r_ff})
    if (!*r) return r->status();
  h.n_embd = *r_embd;
  h.n_layer = *r_layer;
  h.n_head = *r_head;
  h.n_ff = *r_ff;
  if (h.n_head <= 0) return bad("num_attention_heads must be positive");
  auto r_kv = geti("num_key_value_heads", h.n_head);
  auto r_hd = geti("head_dim", h.n_embd / h.n_head);
  auto r_ctx = geti("max_position_embeddings", 2048);
  for (auto* r : {&r_kv, &r_hd, &r_ctx})
    if (!*r) return r->status();
  h.n_head_kv = *r_kv;
  h.head_dim = *r_hd;
  h.rope_dim = h.head_dim;
  h.n_ctx_train = *r_ctx;
  if (c.contains("partial_rotary_factor")) return bad("partial_rotary_factor is not supported");
  auto r_eps = getf("rms_norm_eps", 1e-6);
  auto r_theta = getf("rope_theta", 10000.0);
  if (!r_eps) return r_eps.status();
  if (!r_theta) return r_theta.status();
  h.norm_eps = static_cast<float>(*r_eps);
  h.rope_theta = static_cast<float>(*r_theta);
  h.rope_layout = RopeLayout::Halves;
  if (c.contains("rope_scaling") && !c["rope_scaling"].is_null()) {
    const auto& rs = c["rope_scaling"];
    if (!rs.is_object()) return bad("rope_scaling must be an object");
    std::string type = rs.value("rope_type", rs.value("type", std::string()));
    auto num = [&](const char* k, double def) { return rs.contains(k) && rs[k].is_number() ? rs[k].get<double>() : def; };
    if (type == "llama3") {
      h.rope_freq_factors = llama3_rope_factors(h.rope_dim, h.rope_theta, static_cast<float>(num("factor", 8)),
                                                static_cast<float>(num("low_freq_factor", 1)),
                                                static_cast<float>(num("high_freq_factor", 4)),
                                                static_cast<int>(num("original_max_position_embeddings", 8192)));
    } else if (type == "linear") {
      h.rope_linear_factor = static_cast<float>(num("factor", 1));
    } else if (type != "default") {
      return bad(fmt::format("unsupported rope_scaling type '{}'", type));
    }
  }
  if (c.value("use_sliding_window", false) || (c.contains("sliding_window") && c["sliding_window"].is_number() &&
                                               c["sliding_window"].get<int64_t>() < h.n_ctx_train && ai->key == std::string("llama")))
    LOG_WARN("{}: sliding-window attention is not implemented; sequences longer than the window differ", dir);
  h.qkv_bias = ai->qkv_bias || ck_->tensor("model.layers.0.self_attn.q_proj.bias") != nullptr;
  h.qk_norm = ai->qk_norm;
  const RawTensor* emb = find("model.embed_tokens.weight");
  const RawTensor* head = find("lm_head.weight");
  if (!emb && !head) return Status::errorf("{}: missing tensor 'model.embed_tokens.weight'", dir);
  h.n_vocab = static_cast<int>((emb ? emb : head)->shape[0]);
  bool tie = c.contains("tie_word_embeddings") && c["tie_word_embeddings"].is_boolean() && c["tie_word_embeddings"].get<bool>();
  h.tied_embeddings = tie || !emb || !head;
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<ModelSource>> open_hf_source(const std::string& dir) {
  auto ck = HfCheckpoint::open(dir);
  if (!ck) return ck.status();
  auto s = std::make_unique<HfSource>(std::move(ck.value()));
  SHARDLM_TRY(s->init(dir));
  return std::unique_ptr<ModelSource>(std::move(s));
}

}  // namespace shardlm
