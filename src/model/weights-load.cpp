#include <algorithm>
#include <cstring>
#include <optional>

#include "shardlm/core/log.h"
#include "shardlm/kernels/gemm-float.h"
#include "shardlm/kernels/gemm-int8.h"
#include "shardlm/kernels/quant.h"
#include "shardlm/model/model-arch.h"
#include "shardlm/model/weights.h"

namespace shardlm {

namespace {

Status unsupported(const RawTensor& t) {
  return Status::errorf("{}: tensor '{}' has type {}, which this build cannot compute with", t.file, t.name,
                        dtype_name(t.type));
}

// Rows [r.begin, r.end) of a 2-D tensor, kept in the stored type.
Result<WeightMatrix> slice_rows(const RawTensor& t, Range r) {
  if (!can_dequantize(t.type)) return unsupported(t);
  WeightMatrix m;
  m.type = t.type;
  m.rows = r.size();
  m.cols = t.cols();
  m.row_bytes = dtype_row_bytes(t.type, m.cols);
  m.data = Buffer(m.row_bytes * m.rows);
  std::memcpy(m.data.data(), t.data + r.begin * m.row_bytes, m.row_bytes * m.rows);
  return m;
}

// Columns [c.begin, c.end) of every row. On quant-block boundaries the bytes are
// copied as they are; otherwise the slice is dequantized to F32.
Result<WeightMatrix> slice_cols(const RawTensor& t, Range c) {
  if (!can_dequantize(t.type)) return unsupported(t);
  auto info = *dtype_info(t.type);
  WeightMatrix m;
  m.rows = t.rows();
  m.cols = c.size();
  const size_t src_row = dtype_row_bytes(t.type, t.cols());
  if (c.begin % info.block == 0 && c.end % info.block == 0) {
    m.type = t.type;
    m.row_bytes = dtype_row_bytes(t.type, m.cols);
    const size_t off = dtype_row_bytes(t.type, c.begin);
    m.data = Buffer(m.row_bytes * m.rows);
    for (int64_t r = 0; r < m.rows; ++r) std::memcpy(m.data.data() + r * m.row_bytes, t.data + r * src_row + off, m.row_bytes);
    return m;
  }
  LOG_WARN("{}: split [{}, {}) falls inside {} blocks: this slice is kept as F32", t.name, c.begin, c.end, info.name);
  m.type = DType::F32;
  m.row_bytes = m.cols * 4;
  m.data = Buffer(m.row_bytes * m.rows);
  std::vector<float> row(t.cols());
  for (int64_t r = 0; r < m.rows; ++r) {
    dequantize_row(t.type, t.data + r * src_row, row.data(), t.cols());
    std::memcpy(m.data.data() + r * m.row_bytes, row.data() + c.begin, m.row_bytes);
  }
  return m;
}

Result<std::vector<float>> vec(const RawTensor& t, Range r) {
  if (!can_dequantize(t.type) || dtype_is_quantized(t.type)) return unsupported(t);
  std::vector<float> all(t.numel());
  dequantize_row(t.type, t.data, all.data(), t.numel());
  return std::vector<float>(all.begin() + r.begin, all.begin() + r.end);
}

// --weight-dtype: an F32/F16/BF16 matrix re-encoded in a quantized type at load, when
// its width is a whole number of the type's blocks (else it keeps its type).
void requantize(WeightMatrix& m, std::optional<DType> to, const std::string& name) {
  if (!to || *to == m.type) return;
  if (m.type != DType::F32 && m.type != DType::F16 && m.type != DType::BF16) return;
  auto info = dtype_info(*to);
  if (!info || !can_quantize(*to) || m.cols % static_cast<int64_t>(info->block) != 0) {
    LOG_WARN("{}: width {} does not fit {} blocks: kept as {}", name, m.cols, dtype_name(*to), dtype_name(m.type));
    return;
  }
  WeightMatrix q;
  q.type = *to;
  q.rows = m.rows;
  q.cols = m.cols;
  q.row_bytes = dtype_row_bytes(*to, m.cols);
  q.data = Buffer(q.row_bytes * q.rows);
  std::vector<float> row(m.cols);
  for (int64_t r = 0; r < m.rows; ++r) {
    dequantize_row(m.type, m.data.data() + r * m.row_bytes, row.data(), m.cols);
    quantize_row(*to, row.data(), q.data.data() + r * q.row_bytes, m.cols);
  }
  m = std::move(q);
}

// LoadOptions::pack_panels: a packable matrix (gemm_int8_packable) rearranged into
// 32-row panels, an F16 / BF16 / F32 one at the AVX2 level (gemm_float_supported) into
// 8-row groups.
bool pack_panels(WeightMatrix& m) {
  if (m.layout != WeightLayout::Rows) return false;
  if (gemm_float_supported(m.type)) {
    Buffer p(gemm_float_packed_weight_bytes(m.type, m.rows, m.cols));
    gemm_float_pack_weights(m.view(), p.data());
    m.data = std::move(p);
    m.layout = WeightLayout::Rows8;
    return true;
  }
  if (!gemm_int8_packable(m.type) || m.cols % 32 != 0) return false;
  Buffer p(gemm_int8_packed_weight_bytes(m.type, m.rows, m.cols));
  gemm_int8_pack_weights(m.view(), p.data());
  m.data = std::move(p);
  m.layout = WeightLayout::Panel32;
  return true;
}

struct Loader {
  const ModelSource& src;
  const ShardPlan& plan;
  const HParams& h;
  std::optional<DType> weight_dtype;
  bool pack = false;  // pack_panels for matrices only used by matmul
  int packed = 0;     // matrices stored as panels

  Result<const RawTensor*> get(const std::string& name) {
    const RawTensor* t = src.tensor(name);
    if (!t) return Status::errorf("{}: missing tensor '{}'", src.path(), name);
    return t;
  }
  Status rows(const std::string& name, Range r, WeightMatrix& out) {
    auto t = get(name);
    if (!t) return t.status();
    auto m = slice_rows(**t, r);
    if (!m) return m.status();
    out = std::move(m.value());
    requantize(out, weight_dtype, name);
    if (pack) packed += pack_panels(out);
    return Status::ok();
  }
  Status cols(const std::string& name, Range c, WeightMatrix& out) {
    auto t = get(name);
    if (!t) return t.status();
    auto m = slice_cols(**t, c);
    if (!m) return m.status();
    out = std::move(m.value());
    requantize(out, weight_dtype, name);
    if (pack) packed += pack_panels(out);
    return Status::ok();
  }
  Status vector(const std::string& name, Range r, std::vector<float>& out) {
    auto t = get(name);
    if (!t) return t.status();
    auto v = vec(**t, r);
    if (!v) return v.status();
    out = std::move(v.value());
    return Status::ok();
  }
  Status vector_all(const std::string& name, std::vector<float>& out) {
    auto t = get(name);
    if (!t) return t.status();
    return vector(name, {0, (*t)->numel()}, out);
  }
};

Range times(Range r, int64_t k) { return {r.begin * k, r.end * k}; }

}  // namespace

uint64_t ModelWeights::bytes() const {
  uint64_t n = tok_embd.bytes() + output.bytes() + output_norm.size() * 4;
  for (const auto& l : layers)
    n += l.wq.bytes() + l.wk.bytes() + l.wv.bytes() + l.wo.bytes() + l.w_gate.bytes() + l.w_up.bytes() +
         l.w_down.bytes() + 4 * (l.attn_norm.size() + l.ffn_norm.size() + l.bq.size() + l.bk.size() + l.bv.size() +
                                 l.q_norm.size() + l.k_norm.size());
  return n;
}

int ff_split_unit(const ModelSource& src, std::optional<DType> weight_dtype) {
  const RawTensor* t = src.tensor(tensor_name("ffn_down", 0));
  if (!t) return 1;
  auto i = dtype_info(t->type);
  int unit = i ? static_cast<int>(i->block) : 1;
  // Splits on the target's blocks when the width allows (else those slices stay as stored).
  if (weight_dtype)
    if (auto q = dtype_info(*weight_dtype); q && src.hparams().n_ff % static_cast<int64_t>(q->block) == 0)
      unit = std::max(unit, static_cast<int>(q->block));
  return unit;
}

uint64_t layer_slice_bytes(const ModelSource& src, const ShardPlan& plan, int layer) {
  auto frac = [&](const char* what, int64_t num, int64_t den) -> uint64_t {
    const RawTensor* t = src.tensor(tensor_name(what, layer));
    return t && den > 0 ? t->nbytes * num / den : 0;
  };
  const HParams& h = src.hparams();
  if (layer < 0) {
    uint64_t emb = frac("token_embd", plan.vocab.size(), h.n_vocab);
    return emb + (h.tied_embeddings ? emb : frac("output", plan.vocab.size(), h.n_vocab));
  }
  return frac("attn_q", plan.q_heads.size(), h.n_head) + frac("attn_k", plan.kv_heads.size(), h.n_head_kv) +
         frac("attn_v", plan.kv_heads.size(), h.n_head_kv) + frac("attn_output", plan.q_heads.size(), h.n_head) +
         frac("ffn_gate", plan.ff.size(), h.n_ff) + frac("ffn_up", plan.ff.size(), h.n_ff) +
         frac("ffn_down", plan.ff.size(), h.n_ff);
}

Result<std::unique_ptr<ModelWeights>> load_weights(const ModelSource& src, const ShardPlan& plan,
                                                   const LoadHooks& hooks, const LoadOptions& opt) {
  auto w = std::make_unique<ModelWeights>();
  w->hp = src.hparams();
  w->plan = plan;
  const HParams& h = w->hp;
  Loader L{src, plan, h, opt.weight_dtype, false};
  const int64_t hd = h.head_dim;

  if (hooks.before_layer) SHARDLM_TRY(hooks.before_layer(-1, layer_slice_bytes(src, plan, -1)));
  SHARDLM_TRY(L.rows(tensor_name("token_embd"), plan.vocab, w->tok_embd));  // rows read by token id
  L.pack = opt.pack_panels;
  SHARDLM_TRY(L.rows(h.tied_embeddings ? tensor_name("token_embd") : tensor_name("output"), plan.vocab, w->output));
  SHARDLM_TRY(L.vector_all(tensor_name("output_norm"), w->output_norm));
  if (hooks.after_layer) SHARDLM_TRY(hooks.after_layer(-1));

  w->layers.resize(h.n_layer);
  for (int l = 0; l < h.n_layer; ++l) {
    if (hooks.before_layer) SHARDLM_TRY(hooks.before_layer(l, layer_slice_bytes(src, plan, l)));
    LayerWeights& lw = w->layers[l];
    SHARDLM_TRY(L.vector_all(tensor_name("attn_norm", l), lw.attn_norm));
    SHARDLM_TRY(L.rows(tensor_name("attn_q", l), times(plan.q_heads, hd), lw.wq));
    SHARDLM_TRY(L.rows(tensor_name("attn_k", l), times(plan.kv_heads, hd), lw.wk));
    SHARDLM_TRY(L.rows(tensor_name("attn_v", l), times(plan.kv_heads, hd), lw.wv));
    if (h.qkv_bias) {
      SHARDLM_TRY(L.vector(tensor_name("attn_q", l, "bias"), times(plan.q_heads, hd), lw.bq));
      SHARDLM_TRY(L.vector(tensor_name("attn_k", l, "bias"), times(plan.kv_heads, hd), lw.bk));
      SHARDLM_TRY(L.vector(tensor_name("attn_v", l, "bias"), times(plan.kv_heads, hd), lw.bv));
    }
    if (h.qk_norm) {
      SHARDLM_TRY(L.vector_all(tensor_name("attn_q_norm", l), lw.q_norm));
      SHARDLM_TRY(L.vector_all(tensor_name("attn_k_norm", l), lw.k_norm));
    }
    SHARDLM_TRY(L.cols(tensor_name("attn_output", l), times(plan.q_heads, hd), lw.wo));
    SHARDLM_TRY(L.vector_all(tensor_name("ffn_norm", l), lw.ffn_norm));
    SHARDLM_TRY(L.rows(tensor_name("ffn_gate", l), plan.ff, lw.w_gate));
    SHARDLM_TRY(L.rows(tensor_name("ffn_up", l), plan.ff, lw.w_up));
    SHARDLM_TRY(L.cols(tensor_name("ffn_down", l), plan.ff, lw.w_down));
    if (hooks.after_layer) SHARDLM_TRY(hooks.after_layer(l));
  }
  if (L.packed > 0) LOG_INFO("{} matrices stored as panels (Q8_0/Q4_0/Q4_K/Q6_K: 32-row panels for the integer kernels; F16: 8-row groups for the AVX2 kernel)", L.packed);
  return w;
}

}  // namespace shardlm
