#include "shardlm/model/forward.h"

#include <chrono>
#include <cstring>

#include "shardlm/kernels/attention.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/kernels/quant.h"

namespace shardlm {

Forward::Forward(const ModelWeights& w, KvStorage& kv, ThreadPool& pool, AllReduce& ar)
    : w_(w), kv_(kv), pool_(pool), ar_(ar), rope_(rope_params(w.hp)) {}

void Forward::reduce(float* data, int64_t n) {
  auto t0 = std::chrono::steady_clock::now();
  ar_.sum(data, n);
  coll_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

static void add_bias(float* x, const std::vector<float>& b, int64_t n) {
  const int64_t d = static_cast<int64_t>(b.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) x[i * d + j] += b[j];
}

void Forward::run(const ForwardBatch& b, std::vector<float>& logits) {
  const HParams& h = w_.hp;
  const ShardPlan& p = w_.plan;
  const int64_t n = b.size(), E = h.n_embd, hd = h.head_dim;
  coll_s_ = 0;
  x_.assign(n * E, 0.0f);
  xn_.resize(n * E);
  q_.resize(n * p.q_heads.size() * hd);
  att_.resize(q_.size());
  k_.resize(n * p.kv_heads.size() * hd);
  v_.resize(k_.size());
  o_.resize(n * E);
  g_.resize(n * p.ff.size());
  u_.resize(g_.size());

  // Vocab-parallel embedding: each rank fills the rows it holds, zeros elsewhere.
  const WeightMatrix& emb = w_.tok_embd;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = b.tokens[i];
    if (t >= p.vocab.begin && t < p.vocab.end)
      dequantize_row(emb.type, emb.data.data() + (t - p.vocab.begin) * emb.row_bytes, x_.data() + i * E, E);
  }
  reduce(x_.data(), n * E);

  AttnTokens at{n, b.pos.data(), b.block_table.data()};
  for (int l = 0; l < h.n_layer; ++l) layer(l, b, at);

  // Final norm and the LM head for the rows that are sampled.
  const int64_t nr = static_cast<int64_t>(b.logit_rows.size());
  std::vector<float> xr(nr * E);
  for (int64_t r = 0; r < nr; ++r) std::memcpy(xr.data() + r * E, x_.data() + b.logit_rows[r] * E, E * sizeof(float));
  rmsnorm(xr.data(), w_.output_norm.data(), nr, E, h.norm_eps, xr.data());
  logits.resize(nr * p.vocab.size());
  matmul(w_.output.view(), xr.data(), nr, logits.data(), pool_);
}

void Forward::layer(int l, const ForwardBatch& b, const AttnTokens& at) {
  const HParams& h = w_.hp;
  const ShardPlan& p = w_.plan;
  const LayerWeights& lw = w_.layers[l];
  const int64_t n = b.size(), E = h.n_embd, hd = h.head_dim;
  const int nq = static_cast<int>(p.q_heads.size()), nkv = static_cast<int>(p.kv_heads.size());

  // Attention: column-parallel QKV on local heads.
  rmsnorm(x_.data(), lw.attn_norm.data(), n, E, h.norm_eps, xn_.data());
  matmul(lw.wq.view(), xn_.data(), n, q_.data(), pool_);
  matmul(lw.wk.view(), xn_.data(), n, k_.data(), pool_);
  matmul(lw.wv.view(), xn_.data(), n, v_.data(), pool_);
  if (h.qkv_bias) {
    add_bias(q_.data(), lw.bq, n);
    add_bias(k_.data(), lw.bk, n);
    add_bias(v_.data(), lw.bv, n);
  }
  if (h.qk_norm) {
    rmsnorm(q_.data(), lw.q_norm.data(), n * nq, hd, h.norm_eps, q_.data());
    rmsnorm(k_.data(), lw.k_norm.data(), n * nkv, hd, h.norm_eps, k_.data());
  }
  rope(q_.data(), n, nq, b.pos.data(), rope_);
  rope(k_.data(), n, nkv, b.pos.data(), rope_);
  KvLayerView kv = kv_.layer(l);
  kv_write(kv, at, k_.data(), v_.data());
  attention(kv, at, q_.data(), nq, p.q_to_kv.data(), att_.data(), pool_);
  // Row-parallel output projection, then the first all-reduce.
  matmul(lw.wo.view(), att_.data(), n, o_.data(), pool_);
  reduce(o_.data(), n * E);
  for (int64_t i = 0; i < n * E; ++i) x_[i] += o_[i];

  // SwiGLU FFN: column-parallel gate/up, row-parallel down, second all-reduce.
  rmsnorm(x_.data(), lw.ffn_norm.data(), n, E, h.norm_eps, xn_.data());
  matmul(lw.w_gate.view(), xn_.data(), n, g_.data(), pool_);
  matmul(lw.w_up.view(), xn_.data(), n, u_.data(), pool_);
  silu_mul(g_.data(), u_.data(), static_cast<int64_t>(g_.size()));
  matmul(lw.w_down.view(), g_.data(), n, o_.data(), pool_);
  reduce(o_.data(), n * E);
  for (int64_t i = 0; i < n * E; ++i) x_[i] += o_[i];
}

}  // namespace shardlm
