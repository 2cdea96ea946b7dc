#include <gtest/gtest.h>

#include <set>

#include "shardlm/kv/block-pool.h"

using namespace shardlm;

TEST(BlockPool, AllocatesDistinctBlocksAndRefusesOverCommit) {
  BlockPool p(10);
  auto a = p.allocate(4);
  ASSERT_TRUE(a);
  auto b = p.allocate(6);
  ASSERT_TRUE(b);
  std::set<int32_t> ids(a->begin(), a->end());
  ids.insert(b->begin(), b->end());
  EXPECT_EQ(ids.size(), 10u);
  EXPECT_EQ(p.n_free(), 0);
  EXPECT_FALSE(p.allocate(1));
  EXPECT_EQ(p.n_free(), 0);
  p.release(*a);
  EXPECT_EQ(p.n_free(), 4);
  EXPECT_FALSE(p.allocate(5));
  EXPECT_EQ(p.n_free(), 4) << "a failed allocation takes nothing";
}

TEST(BlockPool, RefCountsKeepSharedBlocks) {
  BlockPool p(2);
  auto a = p.allocate(1);
  int32_t id = (*a)[0];
  p.incref(id);
  EXPECT_EQ(p.refs(id), 2);
  p.release(id);
  EXPECT_EQ(p.n_free(), 1);
  p.release(id);
  EXPECT_EQ(p.n_free(), 2);
}

TEST(BlockPool, BlocksFor) {
  EXPECT_EQ(blocks_for(0, 16), 0);
  EXPECT_EQ(blocks_for(1, 16), 1);
  EXPECT_EQ(blocks_for(16, 16), 1);
  EXPECT_EQ(blocks_for(17, 16), 2);
}
