// StepCost: the running fit of decode-step seconds = fixed + per_row x rows, against
// synthetic steps with known costs, and the acceptance threshold it gives.
#include <gtest/gtest.h>

#include <random>

#include "shardlm/spec/step-cost.h"

using shardlm::StepCost;

namespace {

// Steps of 1..(1 + spread) rows with time fixed + per_row * rows (+ noise).
StepCost fed(double fixed, double per_row, int spread, double noise, int steps, uint32_t seed = 1) {
  StepCost c;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> rows(1, 1 + spread);
  std::normal_distribution<double> n(0, noise);
  for (int i = 0; i < steps; ++i) {
    const int r = rows(rng);
    c.observe(r, fixed + per_row * r + n(rng));
  }
  return c;
}

TEST(StepCost, RecoversFixedAndPerRowCosts) {
  StepCost c = fed(0.030, 0.002, 5, 0.0002, 400);
  ASSERT_TRUE(c.known());
  EXPECT_NEAR(c.fixed_s(), 0.030, 0.002);
  EXPECT_NEAR(c.per_row_s(), 0.002, 0.0003);
  // One sequence: the per-row share is 0.002 / 0.032.
  EXPECT_NEAR(c.row_share(1), 0.002 / 0.032, 0.01);
  // More sequences: a larger share, so drafts need more acceptance to pay.
  EXPECT_GT(c.row_share(8), c.row_share(1));
  EXPECT_NEAR(c.row_share(8), 0.016 / 0.046, 0.03);
}

TEST(StepCost, WeightBoundAndOverheadBoundModels) {
  // A big model: reading the weights is the step, a row is nearly free.
  StepCost big = fed(0.050, 0.0005, 4, 0.0005, 400, 2);
  // A tiny model: the step is per-row work.
  StepCost tiny = fed(0.00005, 0.0001, 4, 0.000005, 400, 3);
  EXPECT_LT(big.row_share(1), 0.05);
  EXPECT_GT(tiny.row_share(1), 0.5);
}

TEST(StepCost, UnknownWithoutVaryingRowsThenKeepsTheLastFit) {
  StepCost c;
  for (int i = 0; i < 200; ++i) c.observe(3, 0.01);
  EXPECT_FALSE(c.known());
  EXPECT_EQ(c.row_share(1), 0.0);  // nothing to go on: no gate
  StepCost d = fed(0.010, 0.002, 3, 0.0, 200, 4);
  ASSERT_TRUE(d.known());
  const double share = d.row_share(2);
  // The rows stop varying (every proposal gated off): the last fit stays in use.
  for (int i = 0; i < 400; ++i) d.observe(2, 0.014);
  EXPECT_FALSE(d.known());
  EXPECT_NEAR(d.row_share(2), share, 0.02);
}

TEST(StepCost, IgnoresNonsense) {
  StepCost c;
  c.observe(0, 1.0);
  c.observe(-3, 1.0);
  c.observe(2, -1.0);
  EXPECT_FALSE(c.known());
  EXPECT_EQ(c.row_share(4), 0.0);
}

}  // namespace
