// Quality of the quantized KV cache on the trained test models (stories260K,
// TinyStories-656K): the same token sequence (a prompt and 64 greedy tokens generated
// with an F32 cache) through the forward pass with each KV dtype, fed token by token so
// every position attends over the cache it wrote. Measured per dtype and printed:
//   - the largest |logit - logit with F32 KV| over every position and vocabulary entry;
//   - the KL divergence of the next-token distribution from the F16-KV one (max and
//     mean over positions);
//   - greedy agreement with F16 KV at each of the 64 generated positions (teacher-
//     forced; the free-running text is checked by tests/scripts/test-e2e-kv-quant.py
//     through `shardlm generate`).
// Each is asserted against a per-dtype bound (bound() below: the 0.001 KL
// target where it holds, regression bounds where it does not).
// Also: KvStorage::block(l, b) hands out a block's whole bytes, scales included — a
// block copied byte for byte into another block id reads back the same.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "shardlm/kernels/kv-quant.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/model/forward.h"
#include "shardlm/model/model-source.h"

using namespace shardlm;

namespace {

std::string shared_path(const std::string& rel) {
  const char* s = std::getenv("SHARDLM_SHARED");
  std::string base = s ? s : std::string(SHARDLM_SOURCE_DIR) + "/../shared";
  return base + "/" + rel;
}

struct Model {
  std::unique_ptr<ModelSource> src;
  std::unique_ptr<ModelWeights> w;
  ThreadPool pool{2};
  NoAllReduce ar;
  bool load(const std::string& path) {
    auto s = ModelSource::open(path);
    if (!s) return false;
    src = std::move(s.value());
    auto plan = make_shard_plan(src->hparams(), 0, 1, ff_split_unit(*src));
    auto ww = load_weights(*src, plan.value(), {});
    if (!ww) return false;
    w = std::move(ww.value());
    return true;
  }
};

constexpr int kBlocks = 16, kBlockSize = 16;

// Logits [tokens.size(), V] of the sequence fed one token per step with a `dt` cache;
// with `extend`, greedy tokens are appended until the sequence has `extend` tokens.
std::vector<float> run(Model& m, DType dt, std::vector<int32_t>& tokens, size_t extend = 0) {
  KvStorage kv(KvConfig{m.w->hp.n_layer, kBlocks, kBlockSize, m.w->hp.n_head_kv, m.w->hp.head_dim, dt});
  Forward fwd(*m.w, kv, m.pool, m.ar);
  std::vector<int32_t> bt(kBlocks);
  for (int b = 0; b < kBlocks; ++b) bt[b] = kBlocks - 1 - b;  // scattered: last block first
  const int V = m.w->hp.n_vocab;
  std::vector<float> all, one;
  for (size_t i = 0; i < std::max(tokens.size(), extend); ++i) {
    ForwardBatch b;
    b.tokens = {tokens[i]};
    b.pos = {static_cast<int32_t>(i)};
    b.block_table = {bt.data()};
    b.logit_rows = {0};
    fwd.run(b, one);
    all.insert(all.end(), one.begin(), one.end());
    if (i + 1 == tokens.size() && tokens.size() < extend)
      tokens.push_back(static_cast<int32_t>(std::max_element(one.begin(), one.begin() + V) - one.begin()));
  }
  return all;
}

std::vector<double> softmax(const float* x, int n) {
  std::vector<double> p(x, x + n);
  const double m = *std::max_element(p.begin(), p.end());
  double z = 0;
  for (auto& e : p) z += (e = std::exp(e - m));
  for (auto& e : p) e /= z;
  return p;
}

struct Bound {
  double max_kl, mean_kl;
  int greedy_diff;
};
Bound bound(DType dt) {
  switch (dt) {
    case DType::BF16: return {1e-3, 1e-4, 0};
    case DType::I8: return {1.2e-2, 1e-3, 0};
    case DType::F8_E4M3: return {0.1, 8e-3, 4};
    default: return {0, 0, 0};  // F16 against itself
  }
}

void check_model(const std::string& rel, const std::vector<int32_t>& prompt) {
  const std::string path = shared_path(rel);
  Model m;
  if (!m.load(path)) GTEST_SKIP() << path << " not available (../shared absent)";
  const int V = m.w->hp.n_vocab;
  std::vector<int32_t> seq = prompt;
  const size_t n_gen = 64, total = prompt.size() + n_gen;
  ASSERT_LE(total, static_cast<size_t>(kBlocks * kBlockSize));
  const std::vector<float> ref32 = run(m, DType::F32, seq, total);  // also extends seq greedily
  ASSERT_EQ(seq.size(), total);
  std::vector<int32_t> fixed = seq;
  const std::vector<float> ref16 = run(m, DType::F16, fixed);
  for (DType dt : {DType::F16, DType::BF16, DType::F8_E4M3, DType::I8}) {
    const std::vector<float> got = dt == DType::F16 ? ref16 : run(m, dt, fixed);
    double max_diff = 0, max_kl = 0, sum_kl = 0;
    int greedy_diff = 0;
    for (size_t i = 0; i < total; ++i) {
      const float* a = got.data() + i * V;
      const float* r32 = ref32.data() + i * V;
      const float* r16 = ref16.data() + i * V;
      for (int v = 0; v < V; ++v) max_diff = std::max(max_diff, static_cast<double>(std::fabs(a[v] - r32[v])));
      const auto p = softmax(r16, V), q = softmax(a, V);
      double kl = 0;
      for (int v = 0; v < V; ++v)
        if (p[v] > 0) kl += p[v] * (std::log(p[v]) - std::log(std::max(q[v], 1e-300)));
      max_kl = std::max(max_kl, kl);
      sum_kl += kl;
      const bool same = std::max_element(a, a + V) - a == std::max_element(r16, r16 + V) - r16;
      if (!same && i + 1 >= prompt.size()) ++greedy_diff;  // positions that choose a generated token
    }
    std::printf("%-28s KV %-8s max |logit - f32 KV| %.5f  KL vs f16 KV: max %.2e mean %.2e  greedy differs at %d of %zu\n",
                rel.substr(rel.find_last_of('/') + 1).c_str(), dtype_name(dt), max_diff, max_kl, sum_kl / total,
                greedy_diff, n_gen);
    // Bounds with about 2x margin over the figures measured on both models (see
    // docs/benchmarks.md "Quantized KV cache"): the 0.001 KL target holds for BF16 and,
    // on average over positions, for I8; e4m3's 3 mantissa bits (relative step 1/16)
    // cost more, and its greedy choice differs at 1-2 of 64 teacher-forced positions
    // where the top two tokens are nearly tied.
    const Bound bd = bound(dt);
    EXPECT_LE(max_kl, bd.max_kl) << dtype_name(dt);
    EXPECT_LE(sum_kl / total, bd.mean_kl) << dtype_name(dt);
    EXPECT_LE(greedy_diff, bd.greedy_diff) << dtype_name(dt);
    if (dt == DType::F8_E4M3 || dt == DType::I8) {
      EXPECT_GT(max_diff, 0.0) << "a quantized cache changes the logits a little";
    }
  }
}

}  // namespace

TEST(KvQuantQuality, Stories260K) {
  kernels_init();
  check_model("models/stories260K/stories260K.gguf", {1, 403, 407, 261, 378, 432, 383});
}

TEST(KvQuantQuality, TinyStories656K) {
  kernels_init();
  // Any in-vocabulary prompt serves (the vocabulary has 2048 entries).
  check_model("models/TinyStories-656K", {1, 403, 1207, 261, 378});
}

TEST(KvQuantStorage, BlockBytesCopyReadsBackTheSame) {
  for (DType dt : {DType::F16, DType::F8_E4M3, DType::I8}) {
    KvConfig c{2, 4, 4, 2, 8, dt};
    KvStorage kv(c);
    const KvBlockLayout lay = kv_block_layout(dt, 4, 2, 8);
    EXPECT_EQ(kv.block(1, 2).bytes, lay.block_bytes);
    EXPECT_EQ(kv.bytes(), 2ull * 2 * 4 * lay.block_bytes);
    EXPECT_EQ(kv.bytes(), KvStorage::pool_bytes(c));
    EXPECT_EQ(KvStorage::bytes_per_token(c), 2ull * 2 * lay.block_bytes / 4);
    // Positions 0..3 into block 2 of layer 1, with growing magnitudes (each position's
    // own scale), then the block's bytes copied to block 0.
    std::vector<float> k(4 * 16), v(4 * 16);
    for (size_t i = 0; i < k.size(); ++i) k[i] = std::sin(0.7f * i) * (1 + i / 8), v[i] = std::cos(0.3f * i) * (1 + i);
    std::vector<int32_t> pos = {0, 1, 2, 3}, bt = {2};
    std::vector<const int32_t*> tables(4, bt.data());
    const AttnTokens at{4, pos.data(), tables.data()};
    kv_write(kv.layer(1), at, k.data(), v.data());
    const KvBlockBytes src = kv.block(1, 2), dst = kv.block(1, 0);
    std::memcpy(dst.k, src.k, src.bytes);
    std::memcpy(dst.v, src.v, src.bytes);
    ThreadPool pool(1);
    const int q_to_kv[2] = {0, 1};
    std::vector<float> q(4 * 2 * 8, 0.25f), o2(q.size()), o0(q.size());
    attention(kv.layer(1), at, q.data(), 2, q_to_kv, o2.data(), pool);
    std::vector<int32_t> bt0 = {0};
    std::vector<const int32_t*> tables0(4, bt0.data());
    attention(kv.layer(1), AttnTokens{4, pos.data(), tables0.data()}, q.data(), 2, q_to_kv, o0.data(), pool);
    EXPECT_EQ(o0, o2) << dtype_name(dt);
    // Layer 0 was not written: its block 2 is still zero.
    const KvBlockBytes other = kv.block(0, 2);
    EXPECT_TRUE(std::all_of(other.k, other.k + other.bytes, [](uint8_t b) { return b == 0; }));
  }
}
