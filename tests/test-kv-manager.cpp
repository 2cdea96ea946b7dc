// KV manager with no model and no MPI: hand-checked tables of the plans (match,
// allocate with and without eviction, commit, free, pin) and of what apply() leaves in
// the pool. Block size 4 throughout; a fresh pool's free list hands out 0, 1, 2, ...
#include <gtest/gtest.h>

#include "shardlm/kv/kv-manager.h"

using namespace shardlm;

namespace {

using Ids = std::vector<int32_t>;

std::vector<int32_t> toks(int n, int base = 0) {
  std::vector<int32_t> v;
  for (int i = 0; i < n; ++i) v.push_back(base + i);
  return v;
}

KvManagerConfig cfg(int n_blocks, bool prefix_cache = true) {
  KvManagerConfig c;
  c.n_blocks = n_blocks;
  c.block_size = 4;
  c.prefix_cache = prefix_cache;
  c.cache_seed = 5;
  return c;
}

Ids lru(const KvManager& kv) { return Ids(kv.pool().lru().begin(), kv.pool().lru().end()); }

Ids evicted_ids(const AllocPlan& p) {
  Ids v;
  for (const auto& e : p.evicted) v.push_back(e.block);
  return v;
}

// Admits wire id `seq` holding `t` (all computed): match, allocate, apply, commit, apply.
void admit_computed(KvManager& kv, uint64_t seq, const std::vector<int32_t>& t) {
  auto a = kv.allocate(seq, static_cast<int>(t.size()), kv.match(t));
  ASSERT_TRUE(a);
  kv.apply(*a);
  kv.apply(kv.commit(seq, t, static_cast<int>(t.size())));
}

}  // namespace

TEST(KvManager, MatchLeavesAtLeastOneTokenToCompute) {
  KvManager kv(cfg(8));
  const auto t = toks(12);
  const auto keys = block_keys(t, 4, 3, 5);
  EXPECT_TRUE(kv.match(t).blocks.empty()) << "empty cache";
  EXPECT_EQ(kv.match(t).chain_hash, 5u) << "no match: the chain starts at the seed";
  admit_computed(kv, 1, t);  // blocks 0, 1, 2 registered
  struct Row {
    std::vector<int32_t> tokens;
    Ids blocks;
    int n_tokens;
  };
  auto other = t;
  other[5] = 1000;  // second block differs
  const Row rows[] = {
      {toks(12), {0, 1}, 8},      // 12 known: the third full block is recomputed
      {toks(13), {0, 1, 2}, 12},  // 13 known: all three, one token left
      {toks(8), {0}, 4},
      {toks(4), {}, 0},
      {toks(3), {}, 0},
      {other, {0}, 4},
      {toks(12, 1), {}, 0},
  };
  for (const auto& r : rows) {
    MatchPlan m = kv.match(r.tokens);
    EXPECT_EQ(m.blocks, r.blocks) << r.tokens.size();
    EXPECT_EQ(m.n_tokens, r.n_tokens) << r.tokens.size();
    EXPECT_EQ(m.chain_hash, m.blocks.empty() ? 5u : keys[m.blocks.size() - 1].hash);
  }
  EXPECT_EQ(kv.pool().refs(0), 1) << "match mutates nothing";
  KvManager off(cfg(8, false));
  admit_computed(off, 1, t);
  EXPECT_TRUE(off.match(toks(13)).blocks.empty()) << "prefix cache off";
  EXPECT_EQ(off.n_cached(), 0);
}

TEST(KvManager, AllocateFromTheFreeListAndGrow) {
  KvManager kv(cfg(8));
  auto a = kv.allocate(7, 9);  // 9 tokens: 3 blocks
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->opens);
  EXPECT_EQ(a->fresh, (Ids{0, 1, 2}));
  EXPECT_TRUE(a->evicted.empty());
  EXPECT_FALSE(kv.has(7)) << "planning mutates nothing";
  EXPECT_EQ(kv.n_used(), 0);
  kv.apply(*a);
  EXPECT_EQ(kv.table(7).blocks, (Ids{0, 1, 2}));
  EXPECT_EQ(kv.table(7).chain_hash, 5u);
  EXPECT_EQ(kv.n_used(), 3);
  EXPECT_EQ(kv.unsent(7), (Ids{0, 1, 2}));
  kv.mark_sent(7);
  EXPECT_TRUE(kv.unsent(7).empty());
  auto same = kv.allocate(7, 12);  // still 3 blocks
  ASSERT_TRUE(same);
  EXPECT_FALSE(same->opens);
  EXPECT_EQ(same->n_new(), 0);
  kv.apply(*same);
  auto g = kv.allocate(7, 17);  // 5 blocks
  ASSERT_TRUE(g);
  EXPECT_EQ(g->fresh, (Ids{3, 4}));
  kv.apply(*g);
  EXPECT_EQ(kv.table(7).blocks, (Ids{0, 1, 2, 3, 4}));
  EXPECT_EQ(kv.unsent(7), (Ids{3, 4})) << "the step diff's new_blocks";
  EXPECT_EQ(kv.table(7).n_sent, 3);
}

TEST(KvManager, AllocateEvictsParkedBlocksInLruOrder) {
  KvManager kv(cfg(4));
  const auto ta = toks(8, 100), tb = toks(4, 200);
  const auto ka = block_keys(ta, 4, 2, 5), kb = block_keys(tb, 4, 1, 5);
  admit_computed(kv, 1, ta);  // blocks 0, 1
  admit_computed(kv, 2, tb);  // block 2
  kv.apply(kv.free(2));       // parked first: evicted first
  kv.apply(kv.free(1));
  ASSERT_EQ(lru(kv), (Ids{2, 0, 1}));
  EXPECT_EQ(kv.n_cached(), 3);
  EXPECT_EQ(kv.n_used(), 0);
  auto p = kv.allocate(3, 12);  // 3 blocks: the free one, then two evictions
  ASSERT_TRUE(p);
  EXPECT_EQ(p->fresh, (Ids{3}));
  ASSERT_EQ(evicted_ids(*p), (Ids{2, 0}));
  EXPECT_EQ(p->evicted[0].key, kb[0]);
  EXPECT_EQ(p->evicted[1].key, ka[0]);
  EXPECT_EQ(kv.n_cached(), 3) << "planning evicts nothing";
  kv.apply(*p);
  EXPECT_EQ(kv.table(3).blocks, (Ids{3, 2, 0}));
  EXPECT_EQ(kv.n_cached(), 1);
  EXPECT_EQ(lru(kv), (Ids{1}));
  EXPECT_TRUE(kv.match(toks(9, 100)).blocks.empty()) << "the chain breaks at the evicted first block";
  EXPECT_TRUE(kv.match(toks(5, 200)).blocks.empty());
}

TEST(KvManager, OpeningWithAMatchNeverEvictsTheMatch) {
  KvManager kv(cfg(4));
  const auto ta = toks(8, 100), tb = toks(4, 200);
  admit_computed(kv, 1, ta);  // blocks 0, 1
  admit_computed(kv, 2, tb);  // block 2
  kv.apply(kv.free(1));
  kv.apply(kv.free(2));  // LRU 0, 1, 2; free 3
  auto td = ta;
  td.resize(4);
  for (int i = 0; i < 5; ++i) td.push_back(900 + i);  // A's first block, then new tokens
  MatchPlan m = kv.match(td);
  ASSERT_EQ(m.blocks, (Ids{0}));
  auto p = kv.allocate(4, 9, m);  // 3 blocks: block 0 shared, 2 new
  ASSERT_TRUE(p);
  EXPECT_EQ(p->fresh, (Ids{3}));
  EXPECT_EQ(evicted_ids(*p), (Ids{1})) << "the LRU front, block 0, is the match: skipped";
  kv.apply(*p);
  EXPECT_EQ(kv.table(4).blocks, (Ids{0, 3, 1}));
  EXPECT_EQ(kv.table(4).n_registered, 1);
  EXPECT_EQ(kv.table(4).chain_hash, m.chain_hash);
  EXPECT_EQ(kv.pool().refs(0), 1) << "revived from the LRU list";
  EXPECT_EQ(lru(kv), (Ids{2}));
}

TEST(KvManager, UnsatisfiablePlanMutatesNothing) {
  KvManager kv(cfg(4));
  admit_computed(kv, 1, toks(8, 100));  // blocks 0, 1, referenced
  admit_computed(kv, 2, toks(4, 200));  // block 2
  kv.apply(kv.free(2));                 // parked 2; free 3
  EXPECT_FALSE(kv.allocate(3, 13)) << "4 blocks, 2 available";
  EXPECT_FALSE(kv.allocate(1, 17)) << "growing 1 by 3 blocks, 2 available";
  // A match of block 2 cannot also be evicted for the same sequence.
  MatchPlan m = kv.match(toks(5, 200));
  ASSERT_EQ(m.blocks, (Ids{2}));
  EXPECT_FALSE(kv.allocate(4, 12, m)) << "2 new blocks, only block 3 besides the match";
  EXPECT_FALSE(kv.has(3));
  EXPECT_FALSE(kv.has(4));
  EXPECT_EQ(kv.table(1).blocks, (Ids{0, 1}));
  EXPECT_EQ(lru(kv), (Ids{2}));
  EXPECT_EQ(kv.pool().n_free_list(), 1);
  EXPECT_EQ(kv.n_cached(), 3);
  EXPECT_EQ(kv.n_used(), 2);
  auto ok = kv.allocate(4, 8, m);  // one new block: the free one, no eviction
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->fresh, (Ids{3}));
  EXPECT_TRUE(ok->evicted.empty());
}

TEST(KvManager, TouchMovesAnUnusedMatchToTheLruTail) {
  KvManager kv(cfg(4));
  admit_computed(kv, 1, toks(4, 100));  // block 0
  admit_computed(kv, 2, toks(4, 200));  // block 1
  kv.apply(kv.free(1));
  kv.apply(kv.free(2));  // LRU 0, 1
  kv.touch(kv.match(toks(5, 100)));
  EXPECT_EQ(lru(kv), (Ids{1, 0}));
}

TEST(KvManager, CommitRegistersNewlyFullBlocksAlongTheChain) {
  KvManager kv(cfg(8));
  const auto t = toks(14);
  const auto keys = block_keys(t, 4, 3, 5);
  auto a = kv.allocate(1, 14, kv.match(t));
  ASSERT_TRUE(a);
  kv.apply(*a);  // blocks 0..3
  CommitPlan c = kv.commit(1, t, 3);
  EXPECT_TRUE(c.regs.empty()) << "no full block yet";
  kv.apply(c);
  c = kv.commit(1, t, 5);
  ASSERT_EQ(c.regs.size(), 1u);
  EXPECT_EQ(c.regs[0].block, 0);
  EXPECT_EQ(c.regs[0].key, keys[0]);
  EXPECT_EQ(kv.n_cached(), 0) << "planning registers nothing";
  kv.apply(c);
  EXPECT_EQ(kv.table(1).n_registered, 1);
  EXPECT_EQ(kv.table(1).chain_hash, keys[0].hash);
  c = kv.commit(1, t, 14);  // blocks 1 and 2 full; block 3 holds 2 tokens
  ASSERT_EQ(c.regs.size(), 2u);
  EXPECT_EQ(c.regs[0].block, 1);
  EXPECT_EQ(c.regs[0].key, keys[1]);
  EXPECT_EQ(c.regs[1].block, 2);
  EXPECT_EQ(c.regs[1].key, keys[2]) << "chained from block 1's hash";
  kv.apply(c);
  EXPECT_EQ(kv.table(1).n_registered, 3);
  EXPECT_EQ(kv.table(1).chain_hash, keys[2].hash);
  EXPECT_EQ(kv.n_cached(), 3);
  EXPECT_TRUE(kv.pool().registered(2));
  EXPECT_FALSE(kv.pool().registered(3));
  // A second sequence computing the same prefix: its key is taken, the chain goes on.
  auto b = kv.allocate(2, 8);  // no match passed: blocks 4, 5
  ASSERT_TRUE(b);
  kv.apply(*b);
  kv.apply(kv.commit(2, t, 8));
  EXPECT_EQ(kv.table(2).n_registered, 2);
  EXPECT_EQ(kv.table(2).chain_hash, keys[1].hash);
  EXPECT_FALSE(kv.pool().registered(4));
  EXPECT_EQ(kv.n_cached(), 3);
}

TEST(KvManager, FreeParksRegisteredBlocksAndFreesTheRest) {
  KvManager kv(cfg(8));
  const auto t = toks(10);
  auto a = kv.allocate(1, 10, kv.match(t));
  ASSERT_TRUE(a);
  kv.apply(*a);                         // blocks 0, 1, 2
  kv.apply(kv.commit(1, t, 10));        // 0, 1 registered; 2 partial
  FreePlan f = kv.free(1);
  EXPECT_EQ(f.release, (Ids{0, 1, 2}));
  EXPECT_TRUE(kv.has(1)) << "planning frees nothing";
  kv.apply(f);
  EXPECT_FALSE(kv.has(1));
  EXPECT_EQ(kv.n_used(), 0);
  EXPECT_EQ(lru(kv), (Ids{0, 1}));
  EXPECT_EQ(kv.pool().n_free_list(), 6);
  EXPECT_EQ(kv.pool().peek_free(2), (Ids{2, 3})) << "the partial block is reused first";
  EXPECT_EQ(kv.match(toks(10)).blocks, (Ids{0, 1})) << "parked blocks still match";
}

TEST(KvManager, PinnedBlocksAreNeverEvicted) {
  KvManager kv(cfg(4));
  admit_computed(kv, 1, toks(8, 100));  // blocks 0, 1
  kv.apply(kv.free(1));                 // parked 0, 1; free 2, 3
  ASSERT_TRUE(kv.pin(42, {0, 1}));
  EXPECT_TRUE(kv.pinned(42));
  EXPECT_TRUE(lru(kv).empty());
  EXPECT_EQ(kv.pool().refs(0), 1);
  EXPECT_EQ(kv.n_used(), 2);
  EXPECT_EQ(kv.n_cached(), 2);
  EXPECT_FALSE(kv.allocate(2, 16)) << "4 blocks: the pinned two cannot be evicted";
  auto p = kv.allocate(2, 8);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->fresh, (Ids{2, 3}));
  EXPECT_TRUE(p->evicted.empty());
  EXPECT_EQ(kv.match(toks(9, 100)).blocks, (Ids{0, 1})) << "pinned blocks still match";
  // Refusals change nothing.
  EXPECT_FALSE(kv.pin(42, {0})) << "key already pinned";
  EXPECT_FALSE(kv.pin(43, {0, 2})) << "block 2 is free";
  EXPECT_FALSE(kv.pin(43, {9})) << "no such block";
  EXPECT_FALSE(kv.pinned(43));
  EXPECT_EQ(kv.pool().refs(0), 1);
  ASSERT_TRUE(kv.unpin(42));
  EXPECT_FALSE(kv.unpin(42)) << "nothing pinned any more";
  EXPECT_EQ(lru(kv), (Ids{0, 1}));
  auto q = kv.allocate(2, 16);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->fresh, (Ids{2, 3}));
  EXPECT_EQ(evicted_ids(*q), (Ids{0, 1})) << "unpinned: evictable again";
}

TEST(KvManager, PinningAReferencedBlockOutlivesItsSequence) {
  KvManager kv(cfg(4));
  admit_computed(kv, 1, toks(8, 100));  // blocks 0, 1
  ASSERT_TRUE(kv.pin(7, {0}));
  EXPECT_EQ(kv.pool().refs(0), 2);
  kv.apply(kv.free(1));
  EXPECT_EQ(kv.pool().refs(0), 1);
  EXPECT_EQ(lru(kv), (Ids{1}));
  auto p = kv.allocate(2, 16);  // 4 blocks: only 3 not pinned
  EXPECT_FALSE(p);
  ASSERT_TRUE(kv.unpin(7));
  EXPECT_EQ(lru(kv), (Ids{1, 0})) << "unpinned last: parked last";
}
