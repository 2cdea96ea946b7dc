#include "model/source-gguf.h"

#include <cstring>

#include "shardlm/kernels/quant.h"
#include "shardlm/model/gguf.h"
#include "shardlm/model/model-arch.h"

namespace shardlm {

namespace {

class GgufSource : public ModelSource {
 public:
  explicit GgufSource(std::unique_ptr<GgufFile> f) : f_(std::move(f)) {}
  const char* format() const override { return "gguf"; }
  const RawTensor* tensor(const std::string& name) const override { return f_->tensor(name); }
  uint64_t total_bytes() const override {
    uint64_t n = 0;
    for (const auto& t : f_->tensors()) n += t.nbytes;
    return n;
  }
  void release(const RawTensor&) const override {}
  Status init(const std::string& path);

 private:
  std::unique_ptr<GgufFile> f_;
};

Status GgufSource::init(const std::string& path) {
  path_ = path;
  tokenizer_path_ = path;
  auto arch = f_->get_string("general.architecture");
  if (!arch) return Status::errorf("{}: missing general.architecture (a vocab-only GGUF has no weights)", path);
  const ArchInfo* ai = arch_by_key(*arch);
  if (!ai) {
    std::string known;
    for (const auto& a : arch_table()) known += std::string(known.empty() ? "" : ", ") + a.key;
    return Status::errorf("{}: unsupported architecture '{}' (supported: {})", path, *arch, known);
  }
  HParams& h = hp_;
  h.arch = ai->key;
  h.name = f_->get_string("general.name").value_or(*arch);
  const std::string a = *arch;
  auto geti = [&](const std::string& k, bool required, int64_t def) -> Result<int64_t> {
    auto v = f_->get_int(a + "." + k);
    if (!v) {
      if (required) return Status::errorf("{}: missing or non-integer metadata '{}.{}'", path, a, k);
      return def;
    }
    if (*v < 0 || *v > (1ll << 31)) return Status::errorf("{}: metadata '{}.{}' = {} out of range", path, a, k, *v);
    return *v;
  };
  auto r_embd = geti("embedding_length", true, 0);
  auto r_layer = geti("block_count", true, 0);
  auto r_ff = geti("feed_forward_length", true, 0);
  auto r_head = geti("attention.head_count", true, 0);
  for (auto* r : {&r_embd, &r_layer, &r_ff, &r_head})
    if (!*r) return r->status();
  h.n_embd = static_cast<int>(*r_embd);
  h.n_layer = static_cast<int>(*r_layer);
  h.n_ff = static_cast<int>(*r_ff);
  h.n_head = static_cast<int>(*r_head);
  auto r_kv = geti("attention.head_count_kv", false, h.n_head);
  if (!r_kv) return r_kv.status();
  h.n_head_kv = static_cast<int>(*r_kv);
  if (h.n_head <= 0) return Status::errorf("{}: attention.head_count is 0", path);
  auto r_hd = geti("attention.key_length", false, h.n_embd / h.n_head);
  if (!r_hd) return r_hd.status();
  h.head_dim = static_cast<int>(*r_hd);
  auto r_rd = geti("rope.dimension_count", false, h.head_dim);
  if (!r_rd) return r_rd.status();
  h.rope_dim = static_cast<int>(*r_rd);
  auto r_ctx = geti("context_length", false, 2048);
  if (!r_ctx) return r_ctx.status();
  h.n_ctx_train = static_cast<int>(*r_ctx);
  h.norm_eps = static_cast<float>(f_->get_float(a + ".attention.layer_norm_rms_epsilon").value_or(1e-5));
  h.rope_theta = static_cast<float>(f_->get_float(a + ".rope.freq_base").value_or(10000.0));
  auto st = f_->get_string(a + ".rope.scaling.type");
  if (st && *st == "linear") h.rope_linear_factor = static_cast<float>(f_->get_float(a + ".rope.scaling.factor").value_or(1.0));
  else if (st && *st != "none" && *st != "llama3")
    return Status::errorf("{}: unsupported rope scaling type '{}'", path, *st);
  h.rope_layout = ai->gguf_rope;
  h.qkv_bias = ai->qkv_bias || f_->tensor("blk.0.attn_q.bias") != nullptr;
  h.qk_norm = ai->qk_norm;
  const RawTensor* emb = f_->tensor("token_embd.weight");
  if (!emb || emb->shape.size() != 2) return Status::errorf("{}: missing 2-D tensor 'token_embd.weight'", path);
  h.n_vocab = static_cast<int>(emb->shape[0]);
  h.tied_embeddings = f_->tensor("output.weight") == nullptr;
  if (const RawTensor* rf = f_->tensor("rope_freqs.weight")) {
    if (rf->type != DType::F32 || rf->shape.size() != 1)
      return Status::errorf("{}: rope_freqs.weight must be a 1-D F32 tensor", path);
    h.rope_freq_factors.resize(rf->shape[0]);
    std::memcpy(h.rope_freq_factors.data(), rf->data, rf->shape[0] * 4);
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<ModelSource>> open_gguf_source(const std::string& path) {
  auto f = GgufFile::open(path);
  if (!f) return f.status();
  auto s = std::make_unique<GgufSource>(std::move(f.value()));
  SHARDLM_TRY(s->init(path));
  return std::unique_ptr<ModelSource>(std::move(s));
}

}  // namespace shardlm
