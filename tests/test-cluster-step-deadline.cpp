// The derived collective deadline (cluster/step-deadline.h): fixed when k = 0, the
// initial deadline until enough steps are measured, then max(k × p99 per-token step
// time × tokens, floor) over the latest steps.
#include <gtest/gtest.h>

#include "shardlm/cluster/step-deadline.h"

using namespace shardlm;

namespace {
RuntimeConfig cfg(double initial, double k, double floor) {
  RuntimeConfig rt;
  rt.collective_timeout_s = initial;
  rt.collective_timeout_k = k;
  rt.collective_timeout_floor_s = floor;
  return rt;
}
}  // namespace

TEST(StepDeadline, FixedWhenKIsZero) {
  StepDeadline d(cfg(12, 0, 10));
  for (int i = 0; i < 100; ++i) d.observe(0.001, 1);
  EXPECT_EQ(d.timeout_s(1), 12);
  EXPECT_EQ(d.timeout_s(500), 12);
  EXPECT_FALSE(d.derived());
  EXPECT_EQ(d.rule(), "fixed: 12 s");
}

TEST(StepDeadline, InitialUntilEnoughSteps) {
  StepDeadline d(cfg(300, 20, 2));
  for (int i = 0; i < StepDeadline::kMinSteps - 1; ++i) {
    d.observe(0.05, 1);
    EXPECT_EQ(d.timeout_s(1), 300) << "after " << i + 1 << " steps";
  }
  d.observe(0.05, 1);
  EXPECT_NEAR(d.timeout_s(1), 2.0, 1e-9);       // 20 × 0.05 = 1 s, below the floor
  EXPECT_NEAR(d.timeout_s(10), 10.0, 1e-9);     // 20 × 0.05 × 10 tokens
}

TEST(StepDeadline, P99OfPerTokenTimesScalesWithTokens) {
  StepDeadline d(cfg(300, 10, 1));
  // 99 steps of 10 ms per token, then one of 1 s per token: p99 of 100 is the 99th value.
  for (int i = 0; i < 99; ++i) d.observe(0.01 * 4, 4);
  EXPECT_NEAR(d.p99_s_per_token(), 0.01, 1e-12);
  d.observe(1.0, 1);
  EXPECT_NEAR(d.p99_s_per_token(), 0.01, 1e-12);
  d.observe(1.0, 1);  // two outliers in 101: the p99 is one of them
  EXPECT_NEAR(d.p99_s_per_token(), 1.0, 1e-12);
  EXPECT_NEAR(d.timeout_s(3), 30.0, 1e-9);
}

TEST(StepDeadline, WindowForgetsOldSteps) {
  StepDeadline d(cfg(300, 10, 0.001));
  for (int i = 0; i < StepDeadline::kWindow; ++i) d.observe(1.0, 1);
  for (int i = 0; i < StepDeadline::kWindow; ++i) d.observe(0.001, 1);
  EXPECT_NEAR(d.p99_s_per_token(), 0.001, 1e-12);
  EXPECT_EQ(d.steps_observed(), 2 * StepDeadline::kWindow);
}

TEST(StepDeadline, StepTokensCountsNewRunningAndDrafts) {
  StepMsg m;
  m.new_seqs.resize(2);
  m.new_seqs[0].tokens = {1, 2, 3};
  m.new_seqs[1].tokens = {4};
  m.running.resize(1);
  m.running[0].tokens = {5, 6};
  EXPECT_EQ(step_tokens(m), 6);
}

TEST(StepDeadline, RuntimeConfigCarriesTheOptions) {
  RuntimeConfig rt = cfg(40, 7, 3);
  auto back = RuntimeConfig::from_json(rt.to_json());
  ASSERT_TRUE(back.is_ok()) << back.message();
  EXPECT_EQ(back.value().collective_timeout_s, 40);
  EXPECT_EQ(back.value().collective_timeout_k, 7);
  EXPECT_EQ(back.value().collective_timeout_floor_s, 3);
}
