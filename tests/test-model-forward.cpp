// The forward pass on one rank: batching must not change the numbers. A whole
// prompt in one batch, the same prompt token by token through the paged KV cache,
// and two sequences interleaved in one batch give the same logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "shardlm/kernels/matmul.h"
#include "shardlm/model/forward.h"
#include "shardlm/model/model-source.h"

using namespace shardlm;

static std::string shared_path(const std::string& rel) {
  const char* s = std::getenv("SHARDLM_SHARED");
  std::string base = s ? s : std::string(SHARDLM_SOURCE_DIR) + "/../shared";
  return base + "/" + rel;
}

struct Fixture {
  std::unique_ptr<ModelSource> src;
  std::unique_ptr<ModelWeights> w;
  std::unique_ptr<KvStorage> kv;
  ThreadPool pool{2};
  NoAllReduce ar;
  std::unique_ptr<Forward> fwd;
  bool load(const std::string& path) {
    auto s = ModelSource::open(path);
    if (!s) return false;
    src = std::move(s.value());
    auto plan = make_shard_plan(src->hparams(), 0, 1, ff_split_unit(*src));
    auto ww = load_weights(*src, plan.value(), {});
    if (!ww) return false;
    w = std::move(ww.value());
    KvConfig kc{w->hp.n_layer, 64, 16, w->hp.n_head_kv, w->hp.head_dim};
    kv = std::make_unique<KvStorage>(kc);
    fwd = std::make_unique<Forward>(*w, *kv, pool, ar);
    return true;
  }
};

TEST(Forward, BatchedEqualsIncrementalAndInterleaved) {
  kernels_init();
  std::string path = shared_path("models/stories260K/stories260K.gguf");
  Fixture f;
  if (!f.load(path)) GTEST_SKIP() << path << " not available (../shared absent)";
  const int V = f.w->hp.n_vocab;
  std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 432, 383};
  std::vector<int32_t> bt_a = {0, 1}, bt_b = {5, 6};

  // Whole prompt at once; logits of every position.
  ForwardBatch b;
  for (size_t i = 0; i < prompt.size(); ++i) {
    b.tokens.push_back(prompt[i]);
    b.pos.push_back(static_cast<int32_t>(i));
    b.block_table.push_back(bt_a.data());
    b.logit_rows.push_back(static_cast<int32_t>(i));
  }
  std::vector<float> full;
  f.fwd->run(b, full);
  ASSERT_EQ(full.size(), prompt.size() * V);

  // Token by token into other blocks.
  for (size_t i = 0; i < prompt.size(); ++i) {
    ForwardBatch s;
    s.tokens = {prompt[i]};
    s.pos = {static_cast<int32_t>(i)};
    s.block_table = {bt_b.data()};
    s.logit_rows = {0};
    std::vector<float> one;
    f.fwd->run(s, one);
    for (int v = 0; v < V; ++v) ASSERT_NEAR(one[v], full[i * V + v], 2e-4) << "pos " << i << " token " << v;
  }

  // Two sequences in one batch: the continuation of B (positions 7, 8) and a fresh A'.
  std::vector<int32_t> bt_c = {9, 10};
  ForwardBatch m;
  std::vector<int32_t> more = {286, 300};
  for (size_t i = 0; i < prompt.size(); ++i) {
    m.tokens.push_back(prompt[i]);
    m.pos.push_back(static_cast<int32_t>(i));
    m.block_table.push_back(bt_c.data());
    if (i + 1 < more.size()) {
      m.tokens.push_back(more[i]);
      m.pos.push_back(static_cast<int32_t>(prompt.size() + i));
      m.block_table.push_back(bt_b.data());
    }
  }
  m.tokens.push_back(more.back());
  m.pos.push_back(static_cast<int32_t>(prompt.size() + more.size() - 1));
  m.block_table.push_back(bt_b.data());
  // Last row of C is the prompt's last token: find it.
  int32_t row_c = -1;
  for (size_t i = 0; i < m.tokens.size(); ++i)
    if (m.block_table[i] == bt_c.data()) row_c = static_cast<int32_t>(i);
  m.logit_rows = {row_c};
  std::vector<float> mix;
  f.fwd->run(m, mix);
  const size_t last = prompt.size() - 1;
  for (int v = 0; v < V; ++v) ASSERT_NEAR(mix[v], full[last * V + v], 2e-4);

  // The model's own top token after "Once upon a time" is ","(432), far ahead.
  int best = 0;
  for (int v = 1; v < V; ++v)
    if (full[4 * V + v] > full[4 * V + best]) best = v;
  EXPECT_EQ(best, 432);
}
