// Prefix cache in the block pool: registration, matching, LRU parking and eviction.
#include <gtest/gtest.h>

#include "shardlm/kv/block-pool.h"

using namespace shardlm;

namespace {
std::vector<int32_t> seq(int n, int base = 0) {
  std::vector<int32_t> v;
  for (int i = 0; i < n; ++i) v.push_back(base + i);
  return v;
}
}  // namespace

TEST(BlockHash, ChainDependsOnEveryEarlierToken) {
  auto a = block_keys(seq(12), 4, 3);
  auto t = seq(12);
  t[1] = 99;  // first block differs → every later hash differs
  auto b = block_keys(t, 4, 3);
  ASSERT_EQ(a.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_NE(a[i].hash, b[i].hash) << i;
  EXPECT_EQ(a[1].parent, a[0].hash);
  EXPECT_EQ(block_keys(seq(12), 4, 3), a) << "deterministic";
  EXPECT_EQ(block_keys(seq(10), 4, 3).size(), 2u) << "only full blocks";
  EXPECT_NE(block_keys(seq(4), 4, 1, 7)[0].hash, a[0].hash) << "seed separates caches";
}

TEST(PrefixCache, MatchesRegisteredPrefixOnly) {
  BlockPool p(8);
  auto toks = seq(12);
  auto keys = block_keys(toks, 4, 3);
  auto b = *p.allocate(3);
  EXPECT_TRUE(p.match_prefix(keys, 3).empty());
  EXPECT_TRUE(p.register_block(b[0], keys[0]));
  EXPECT_TRUE(p.register_block(b[1], keys[1]));
  EXPECT_FALSE(p.register_block(b[1], keys[1])) << "already registered";
  EXPECT_EQ(p.match_prefix(keys, 3), (std::vector<int32_t>{b[0], b[1]}));
  EXPECT_EQ(p.match_prefix(keys, 1), (std::vector<int32_t>{b[0]}));
  // A different second block stops the match after the first.
  auto other = seq(12);
  other[5] = 1000;
  EXPECT_EQ(p.match_prefix(block_keys(other, 4, 3), 3), (std::vector<int32_t>{b[0]}));
  // The same key cannot be registered to a second block.
  auto c = *p.allocate(1);
  EXPECT_FALSE(p.register_block(c[0], keys[0]));
}

TEST(PrefixCache, ReleasedBlocksParkAndRevive) {
  BlockPool p(4);
  auto keys = block_keys(seq(8), 4, 2);
  auto b = *p.allocate(2);
  p.register_block(b[0], keys[0]);
  p.register_block(b[1], keys[1]);
  p.release(b);
  EXPECT_EQ(p.n_available(), 4) << "parked blocks count as available";
  EXPECT_EQ(p.n_cached(), 2);
  auto m = p.match_prefix(keys, 2);
  ASSERT_EQ(m, b);
  p.acquire(m);
  EXPECT_EQ(p.refs(b[0]), 1);
  EXPECT_EQ(p.n_available(), 2);
  p.acquire(m);  // a second sharer
  EXPECT_EQ(p.refs(b[1]), 2);
  p.release(m);
  p.release(m);
  EXPECT_EQ(p.n_available(), 4);
}

TEST(PrefixCache, EvictsLeastRecentlyReleasedAfterFreeBlocks) {
  BlockPool p(3);
  auto k1 = block_keys(seq(4, 100), 4, 1);
  auto k2 = block_keys(seq(4, 200), 4, 1);
  auto a = *p.allocate(1);
  auto b = *p.allocate(1);
  p.register_block(a[0], k1[0]);
  p.register_block(b[0], k2[0]);
  p.release(a);  // released first: evicted first
  p.release(b);
  auto x = *p.allocate(1);  // the never-cached block goes first
  EXPECT_NE(x[0], a[0]);
  EXPECT_NE(x[0], b[0]);
  EXPECT_EQ(p.n_cached(), 2);
  auto y = *p.allocate(1);
  EXPECT_EQ(y[0], a[0]);
  EXPECT_EQ(p.n_cached(), 1);
  EXPECT_TRUE(p.match_prefix(k1, 1).empty()) << "evicted block no longer matches";
  EXPECT_EQ(p.match_prefix(k2, 1), b);
  EXPECT_FALSE(p.allocate(2));
  p.clear_cache();
  EXPECT_EQ(p.n_cached(), 0);
  EXPECT_TRUE(p.match_prefix(k2, 1).empty());
  EXPECT_EQ(p.n_available(), 1);
}

TEST(PrefixCache, ExplicitTakeFreeEvictAndTouch) {
  BlockPool p(4);  // free list hands out 0, 1, 2, 3
  EXPECT_EQ(p.peek_free(2), (std::vector<int32_t>{0, 1}));
  auto a = p.take_free(3);
  ASSERT_EQ(a, (std::vector<int32_t>{0, 1, 2}));
  auto k = block_keys(seq(12), 4, 3);
  for (int i = 0; i < 3; ++i) p.register_block(a[i], k[i]);
  p.release(a);  // parked 0, 1, 2 in that order
  EXPECT_EQ(p.n_free_list(), 1);
  EXPECT_EQ(p.n_parked(), 3);
  EXPECT_EQ(p.take_free(1), std::vector<int32_t>{3}) << "take_free never evicts";
  EXPECT_EQ(p.n_cached(), 3);
  p.touch({0, 3});  // 0 goes to the LRU tail; 3 is referenced and stays put
  EXPECT_EQ(std::vector<int32_t>(p.lru().begin(), p.lru().end()), (std::vector<int32_t>{1, 2, 0}));
  EXPECT_EQ(p.key(1), k[1]);
  p.evict(1);
  EXPECT_EQ(p.refs(1), 1);
  EXPECT_FALSE(p.registered(1));
  EXPECT_EQ(p.n_cached(), 2);
  EXPECT_TRUE(p.match_prefix(k, 3) == std::vector<int32_t>{0}) << "the chain breaks at the evicted block";
}
