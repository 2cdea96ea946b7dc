// Shard plan: every head, ffn unit and vocab row is owned exactly once (KV heads
// replicated only when ranks outnumber them), splits fall on block boundaries.
#include <gtest/gtest.h>

#include "shardlm/model/shard-plan.h"

using namespace shardlm;

static HParams hp(int n_head, int n_kv, int n_ff, int n_vocab) {
  HParams h;
  h.n_head = n_head;
  h.n_head_kv = n_kv;
  h.n_ff = n_ff;
  h.n_vocab = n_vocab;
  h.n_embd = 64;
  h.head_dim = 8;
  return h;
}

TEST(ShardPlan, SplitRangeIsBalancedAndCovering) {
  for (int n : {1, 5, 7, 32, 172})
    for (int parts = 1; parts <= std::min(n, 9); ++parts) {
      int64_t next = 0, mn = n, mx = 0;
      for (int i = 0; i < parts; ++i) {
        Range r = split_range(n, parts, i);
        EXPECT_EQ(r.begin, next);
        next = r.end;
        mn = std::min(mn, r.size());
        mx = std::max(mx, r.size());
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(mx - mn, 1);
    }
}

TEST(ShardPlan, EveryHeadOwnedOnceAndKvCoversQueries) {
  struct Case { int heads, kv, world; };
  for (Case c : {Case{8, 4, 1}, Case{8, 4, 2}, Case{8, 4, 3}, Case{8, 4, 4}, Case{8, 4, 8}, Case{8, 1, 4},
                 Case{32, 4, 3}, Case{14, 2, 4}, Case{4, 2, 4}}) {
    HParams h = hp(c.heads, c.kv, 512, 512);
    std::vector<int> owner(c.heads, 0);
    for (int r = 0; r < c.world; ++r) {
      auto p = make_shard_plan(h, r, c.world, 32);
      ASSERT_TRUE(p) << p.message();
      const int group = c.heads / c.kv;
      ASSERT_EQ(static_cast<int64_t>(p->q_to_kv.size()), p->q_heads.size());
      for (int64_t q = p->q_heads.begin; q < p->q_heads.end; ++q) {
        owner[q]++;
        int local_kv = p->q_to_kv[q - p->q_heads.begin];
        EXPECT_EQ(p->kv_heads.begin + local_kv, q / group) << "head " << q;
        EXPECT_LT(local_kv, p->kv_heads.size());
      }
      if (c.world <= c.kv) {
        EXPECT_EQ(p->q_heads.size(), p->kv_heads.size() * group);
      }
    }
    for (int q = 0; q < c.heads; ++q) EXPECT_EQ(owner[q], 1) << "heads=" << c.heads << " world=" << c.world;
  }
}

TEST(ShardPlan, FfnSplitsOnBlocksUnevenly) {
  HParams h = hp(8, 4, 160, 512);  // 5 blocks of 32
  int64_t total = 0;
  for (int r = 0; r < 2; ++r) {
    auto p = make_shard_plan(h, r, 2, 32);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->ff.begin % 32, 0);
    EXPECT_EQ(p->ff.end % 32, 0);
    total += p->ff.size();
  }
  EXPECT_EQ(total, 160);
  EXPECT_EQ(make_shard_plan(h, 0, 2, 32)->ff.size(), 96);
  EXPECT_EQ(make_shard_plan(h, 1, 2, 32)->ff.size(), 64);
}

TEST(ShardPlan, RefusesImpossibleSplits) {
  auto a = make_shard_plan(hp(8, 4, 160, 512), 0, 9, 1);
  ASSERT_FALSE(a);
  EXPECT_NE(a.message().find("8 attention heads"), std::string::npos);
  auto b = make_shard_plan(hp(8, 4, 160, 512), 0, 2, 64);  // 160 not a multiple of 64
  ASSERT_FALSE(b);
  auto c = make_shard_plan(hp(8, 4, 64, 512), 0, 4, 32);  // 2 blocks, 4 ranks
  ASSERT_FALSE(c);
  EXPECT_FALSE(make_shard_plan(hp(8, 4, 160, 512), 2, 2, 1));
}
