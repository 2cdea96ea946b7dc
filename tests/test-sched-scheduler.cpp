// Scheduler with no model and no MPI: a mirror of what every rank does with the step
// messages checks that the plans are consistent (positions, blocks, known ids).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "shardlm/sched/scheduler.h"

using namespace shardlm;

namespace {

// What a rank keeps per sequence, and the checks StepExecutor::execute makes.
struct Mirror {
  struct S {
    std::vector<int32_t> blocks;
    std::vector<int32_t> tokens;  // every token computed, by position
  };
  std::map<uint64_t, S> seqs;
  int bs;
  explicit Mirror(int b) : bs(b) {}
  // Returns the wire ids of the logit-row table, in table order.
  std::vector<uint64_t> apply(const StepMsg& m) {
    std::vector<uint64_t> sampled;
    std::map<uint64_t, size_t> before;  // positions computed before this step
    for (const auto& n : m.new_seqs) {
      EXPECT_EQ(seqs.count(n.seq_id), 0u) << "new id reused";
      S& s = seqs[n.seq_id];
      before[n.seq_id] = n.start_pos;
      s.blocks = n.block_table;
      s.tokens.assign(n.start_pos, -1);  // cached prefix: KV already there
      s.tokens.insert(s.tokens.end(), n.tokens.begin(), n.tokens.end());
      EXPECT_LE(s.tokens.size(), s.blocks.size() * bs);
    }
    for (const auto& r : m.running) {
      EXPECT_EQ(seqs.count(r.seq_id), 1u) << "unknown running id " << r.seq_id;
      S& s = seqs[r.seq_id];
      EXPECT_LE(r.start_pos, s.tokens.size()) << "a running sequence cannot start past what the ranks computed";
      s.tokens.resize(std::min<size_t>(r.start_pos, s.tokens.size()));  // rejected draft positions are forgotten
      before[r.seq_id] = s.tokens.size();
      s.blocks.insert(s.blocks.end(), r.new_blocks.begin(), r.new_blocks.end());
      s.tokens.insert(s.tokens.end(), r.tokens.begin(), r.tokens.end());
      EXPECT_LE(s.tokens.size(), s.blocks.size() * bs);
    }
    for (const auto& row : m.rows) {
      // The scheduler asks for the logits of each sampled sequence's last token of the step.
      EXPECT_EQ(before.count(row.seq_id), 1u) << "row for a sequence not in the step: " << row.seq_id;
      if (!before.count(row.seq_id)) continue;
      EXPECT_GT(seqs[row.seq_id].tokens.size(), before[row.seq_id]) << "row for a sequence computing nothing";
      EXPECT_EQ(row.pos + 1, seqs[row.seq_id].tokens.size()) << "row at the last token";
      sampled.push_back(row.seq_id);
    }
    // No block is written by two live sequences' *new* tokens... blocks may be shared
    // only as full cached prefixes: check every block appears in at most one table
    // beyond the shared full prefix blocks below.
    for (auto id : m.finished) {
      EXPECT_EQ(seqs.count(id), 1u) << "finishing unknown id " << id;
      seqs.erase(id);
    }
    return sampled;
  }
};

std::shared_ptr<Sequence> make_seq(uint64_t id, int n_prompt, int max_tokens, int base = 0) {
  auto s = std::make_shared<Sequence>();
  s->id = id;
  for (int i = 0; i < n_prompt; ++i) s->tokens.push_back(base + i);
  s->n_prompt = n_prompt;
  s->max_tokens = max_tokens;
  return s;
}

// One engine iteration: schedule, apply on the mirror, commit, "sample" token 7 for
// every sampled sequence, finish those that reached max_tokens.
struct Sim {
  Scheduler sch;
  Mirror mirror;
  std::vector<StepPlan> plans;
  explicit Sim(const SchedulerConfig& c) : sch(c), mirror(c.block_size) {}
  StepPlan step() {
    StepPlan p = sch.schedule();
    auto sampled = mirror.apply(p.msg);
    sch.commit(p);
    std::vector<uint64_t> expect;
    for (auto& x : p.seqs)
      if (x.sample) expect.push_back(x.seq->wire_id);
    std::sort(sampled.begin(), sampled.end());
    std::sort(expect.begin(), expect.end());
    EXPECT_EQ(sampled, expect) << "one row per sampled sequence (joined by seq id)";
    for (auto& x : p.seqs) {
      if (!x.sample) continue;
      x.seq->tokens.push_back(7);
      if (x.seq->n_generated() >= x.seq->max_tokens) sch.finish(*x.seq, FinishReason::length);
    }
    plans.push_back(p);
    return p;
  }
};

SchedulerConfig cfg(int n_blocks, int budget, int max_seqs = 8) {
  SchedulerConfig c;
  c.n_blocks = n_blocks;
  c.block_size = 16;
  c.max_batch_tokens = budget;
  c.max_num_seqs = max_seqs;
  return c;
}

}  // namespace

TEST(Scheduler, ChunkedPrefillThenOneTokenPerStep) {
  Sim sim(cfg(16, 16));
  auto s = make_seq(1, 40, 3);
  ASSERT_TRUE(sim.sch.add(s));
  StepPlan p = sim.step();
  ASSERT_EQ(p.msg.new_seqs.size(), 1u);
  EXPECT_EQ(p.msg.new_seqs[0].tokens.size(), 16u);
  EXPECT_EQ(p.msg.new_seqs[0].block_table.size(), 1u);
  EXPECT_TRUE(p.msg.rows.empty());
  p = sim.step();
  ASSERT_EQ(p.msg.running.size(), 1u);
  EXPECT_EQ(p.msg.running[0].tokens.size(), 16u);
  EXPECT_EQ(p.msg.running[0].new_blocks.size(), 1u);
  p = sim.step();
  EXPECT_EQ(p.msg.running[0].tokens.size(), 8u);
  ASSERT_EQ(p.msg.rows.size(), 1u) << "the chunk that completes the prompt samples";
  EXPECT_EQ(p.msg.rows[0], (LogitRow{p.msg.running[0].seq_id, 39}));
  EXPECT_EQ(p.msg.running[0].new_blocks.size(), 1u);  // 40 tokens → 3 blocks
  p = sim.step();
  EXPECT_EQ(p.msg.running[0].tokens, std::vector<int32_t>{7});
  EXPECT_TRUE(p.msg.running[0].new_blocks.empty());
  p = sim.step();  // third token sampled → finished
  EXPECT_EQ(s->state, SeqState::finished);
  EXPECT_EQ(s->n_generated(), 3);
  p = sim.step();
  EXPECT_EQ(p.msg.finished, std::vector<uint64_t>{s->wire_id}) << "ranks free it in the next step";
  EXPECT_TRUE(sim.sch.idle());
  EXPECT_EQ(sim.sch.kv().n_used(), 0);
}

TEST(Scheduler, DecodingSequencesGoFirstAndBudgetIsShared) {
  Sim sim(cfg(32, 20));
  auto a = make_seq(1, 10, 50);
  ASSERT_TRUE(sim.sch.add(a));
  sim.step();  // a: prompt in one step (10 <= 20), samples
  auto b = make_seq(2, 60, 5, 1000);
  ASSERT_TRUE(sim.sch.add(b));
  StepPlan p = sim.step();
  // a decodes (1 token), b gets the remaining 19 of the budget.
  ASSERT_EQ(p.msg.running.size(), 1u);
  EXPECT_EQ(p.msg.running[0].tokens.size(), 1u);
  ASSERT_EQ(p.msg.new_seqs.size(), 1u);
  EXPECT_EQ(p.msg.new_seqs[0].tokens.size(), 19u);
  EXPECT_EQ(p.n_tokens, 20);
  ASSERT_EQ(p.seqs.size(), 2u);
  EXPECT_EQ(p.seqs[0].seq, b.get()) << "plan rows follow message order: new first";
}

TEST(Scheduler, MaxNumSeqsAndQueueBound) {
  SchedulerConfig c = cfg(64, 512, 2);
  c.max_queue = 3;
  Sim sim(c);
  std::vector<std::shared_ptr<Sequence>> v;
  for (int i = 0; i < 3; ++i) {
    v.push_back(make_seq(i + 1, 8, 4, 100 * i));
    ASSERT_TRUE(sim.sch.add(v.back()));
  }
  EXPECT_FALSE(sim.sch.add(make_seq(9, 8, 4))) << "queue full";
  sim.step();
  EXPECT_EQ(sim.sch.n_running(), 2);
  EXPECT_EQ(sim.sch.n_waiting(), 1);
  for (int i = 0; i < 20 && !sim.sch.idle(); ++i) sim.step();
  for (auto& s : v) EXPECT_EQ(s->n_generated(), 4);
  EXPECT_EQ(sim.sch.kv().n_used(), 0);
}

TEST(Scheduler, PrefixCacheSharesFullBlocksLeavingOneToken) {
  Sim sim(cfg(32, 512));
  auto a = make_seq(1, 40, 1);
  sim.sch.add(a);
  while (!sim.sch.idle()) sim.step();
  auto b = make_seq(2, 40, 1);  // same prompt
  sim.sch.add(b);
  StepPlan p = sim.step();
  ASSERT_EQ(p.msg.new_seqs.size(), 1u);
  EXPECT_EQ(p.msg.new_seqs[0].start_pos, 32u);
  EXPECT_EQ(p.msg.new_seqs[0].tokens.size(), 8u);
  EXPECT_EQ(b->n_cached, 32);
  auto c = make_seq(3, 32, 1);  // exactly two full blocks: must recompute the last one
  sim.sch.add(c);
  p = sim.step();
  ASSERT_EQ(p.msg.new_seqs.size(), 1u);
  EXPECT_EQ(p.msg.new_seqs[0].start_pos, 16u);
  EXPECT_EQ(sim.sch.stats().prefix_hit_tokens, 48u);
  EXPECT_EQ(sim.sch.stats().prefix_queries_tokens, 112u);
  while (!sim.sch.idle()) sim.step();
  EXPECT_EQ(sim.sch.kv().n_used(), 0);
}

TEST(Scheduler, PreemptsNewestWhenBlocksRunOutAndRecomputes) {
  // 4 blocks of 16: two sequences of 16-token prompts each growing to 40 tokens.
  Sim sim(cfg(4, 512));
  auto a = make_seq(1, 16, 24);
  auto b = make_seq(2, 16, 24, 500);
  sim.sch.add(a);
  sim.sch.add(b);
  bool preempted = false;
  for (int i = 0; i < 200 && !sim.sch.idle(); ++i) {
    uint64_t b_wire = b->wire_id;
    StepPlan p = sim.step();
    if (b->n_preempted > 0 && !preempted) {
      preempted = true;
      EXPECT_EQ(a->state, SeqState::running) << "the older sequence keeps running";
      EXPECT_NE(std::find(p.msg.finished.begin(), p.msg.finished.end(), b_wire), p.msg.finished.end());
    }
  }
  EXPECT_TRUE(preempted);
  EXPECT_EQ(a->n_generated(), 24);
  EXPECT_EQ(b->n_generated(), 24);
  EXPECT_GT(sim.sch.stats().preemptions, 0u);
  EXPECT_EQ(sim.sch.kv().n_used(), 0);
  EXPECT_TRUE(sim.mirror.seqs.empty() || sim.sch.idle());
}

TEST(Scheduler, FinishWhileWaitingOrRunningFreesEverything) {
  Sim sim(cfg(8, 16));
  auto a = make_seq(1, 40, 5);
  auto b = make_seq(2, 10, 5);
  sim.sch.add(a);
  sim.sch.add(b);
  sim.step();  // a takes the whole budget; b waits
  EXPECT_EQ(b->state, SeqState::waiting);
  sim.sch.finish(*b, FinishReason::abort);
  sim.sch.finish(*a, FinishReason::abort);
  StepPlan p = sim.step();
  EXPECT_EQ(p.msg.finished, std::vector<uint64_t>{a->wire_id}) << "only a was on the ranks";
  EXPECT_TRUE(sim.sch.idle());
  EXPECT_EQ(sim.sch.kv().n_used(), 0);
  EXPECT_TRUE(sim.mirror.seqs.empty());
}

TEST(Scheduler, StepPlanListsTheEvictionsItsAllocationsMade) {
  Sim sim(cfg(4, 512));
  auto a = make_seq(1, 32, 1);  // two full blocks (0, 1), registered, then parked
  sim.sch.add(a);
  StepPlan p = sim.step();
  EXPECT_TRUE(p.evictions.empty());
  EXPECT_EQ(a->state, SeqState::finished);
  EXPECT_EQ(sim.sch.kv().n_cached(), 2);
  auto b = make_seq(2, 48, 1, 1000);  // three blocks: the free 2 and 3, then evicts 0
  sim.sch.add(b);
  p = sim.step();
  ASSERT_EQ(p.msg.new_seqs.size(), 1u);
  EXPECT_EQ(p.msg.new_seqs[0].block_table, (std::vector<int32_t>{2, 3, 0}));
  ASSERT_EQ(p.evictions.size(), 1u);
  EXPECT_EQ(p.evictions[0].block, 0);
  EXPECT_EQ(p.evictions[0].key, block_keys(a->tokens, 16, 1)[0]);
  EXPECT_EQ(sim.sch.kv().n_cached(), 4) << "a's block 1 and b's three blocks";
}

// Draft tokens ride with a decoding sequence: one row per position from the last known
// token on; only the accepted ones keep their KV, and the next step starts after them.
TEST(Scheduler, DraftTokensAreVerifiedRowsAndRejectedOnesAreRewound) {
  Scheduler sch(cfg(8, 64));
  auto s = make_seq(1, 10, 20);
  ASSERT_TRUE(sch.add(s));
  StepPlan p = sch.schedule();  // the prompt
  sch.commit(p);
  s->tokens.push_back(100);     // first sampled token (position 10)
  s->draft = {101, 102, 103};
  p = sch.schedule();
  ASSERT_EQ(p.msg.running.size(), 1u);
  const RunningSeq& r = p.msg.running[0];
  EXPECT_EQ(r.start_pos, 10u);
  EXPECT_EQ(r.tokens, (std::vector<int32_t>{100, 101, 102, 103}));
  const uint64_t w = s->wire_id;
  EXPECT_EQ(p.msg.rows, (std::vector<LogitRow>{{w, 10}, {w, 11}, {w, 12}, {w, 13}}));
  ASSERT_EQ(p.seqs.size(), 1u);
  EXPECT_EQ(p.seqs[0].n_tokens, 4);
  EXPECT_EQ(p.seqs[0].draft, (std::vector<int32_t>{101, 102, 103}));
  EXPECT_TRUE(s->draft.empty()) << "the scheduler takes the proposals";
  sch.commit(p);
  EXPECT_EQ(s->n_computed, 11) << "before verification only the known token counts";
  // Verification: 101 accepted, then 555 instead of 102 (the row after 101 said so).
  s->tokens.push_back(101);
  s->tokens.push_back(555);
  sch.accept_drafts(p);
  EXPECT_EQ(s->n_computed, 12) << "KV of the known token and of one accepted draft";
  EXPECT_EQ(s->gap(), 1);
  p = sch.schedule();
  ASSERT_EQ(p.msg.running.size(), 1u);
  EXPECT_EQ(p.msg.running[0].start_pos, 12u) << "the ranks forget positions 12 and 13";
  EXPECT_EQ(p.msg.running[0].tokens, std::vector<int32_t>{555});
  EXPECT_EQ(p.msg.rows, (std::vector<LogitRow>{{w, 12}}));
  sch.commit(p);
  EXPECT_EQ(s->n_computed, 13);
}

TEST(Scheduler, DraftsAreCutToTheBudgetAndIgnoredWhilePrefilling) {
  Scheduler sch(cfg(8, 3));
  auto s = make_seq(1, 5, 20);
  s->draft = {1, 2};  // still prefilling: not taken
  ASSERT_TRUE(sch.add(s));
  StepPlan p = sch.schedule();
  EXPECT_EQ(p.n_tokens, 3);
  EXPECT_TRUE(p.seqs[0].draft.empty());
  sch.commit(p);
  p = sch.schedule();
  sch.commit(p);
  s->tokens.push_back(9);
  s->draft = {10, 11, 12, 13};
  p = sch.schedule();
  EXPECT_EQ(p.n_tokens, 3) << "budget 3: the known token and two drafts";
  EXPECT_EQ(p.seqs[0].draft, (std::vector<int32_t>{10, 11}));
  EXPECT_EQ(p.msg.rows.size(), 3u);
  sch.commit(p);
  s->tokens.insert(s->tokens.end(), {10, 11, 42});  // both accepted, then a bonus token
  sch.accept_drafts(p);
  EXPECT_EQ(s->n_computed, 8);
  EXPECT_EQ(s->gap(), 1);
}
