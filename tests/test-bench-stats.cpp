// Percentiles and summaries, checked by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "shardlm/bench/stats.h"

using namespace shardlm::bench;

TEST(BenchStats, PercentileInterpolatesBetweenClosestRanks) {
  // Sorted 1,2,3,4: rank = p/100 * 3.
  const std::vector<double> v = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1.0);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 2.5);    // rank 1.5
  EXPECT_DOUBLE_EQ(percentile(v, 95), 3.85);   // rank 2.85
  EXPECT_DOUBLE_EQ(percentile(v, 99), 3.97);   // rank 2.97
  EXPECT_DOUBLE_EQ(percentile(v, 100), 4.0);
}

TEST(BenchStats, PercentileEdgeCases) {
  EXPECT_TRUE(std::isnan(percentile({}, 50)));
  EXPECT_DOUBLE_EQ(percentile({7}, 99), 7.0);
  std::vector<double> v;
  for (int i = 1; i <= 101; ++i) v.push_back(i);
  EXPECT_DOUBLE_EQ(percentile(v, 95), 96.0);  // rank 95 exactly
  EXPECT_DOUBLE_EQ(percentile(v, 50), 51.0);
}

TEST(BenchStats, SummaryByHand) {
  // mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32; sample variance 32/7.
  const Summary s = summarize({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_EQ(s.n, 8u);
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_NEAR(s.sd, std::sqrt(32.0 / 7.0), 1e-12);
  EXPECT_DOUBLE_EQ(s.min, 2.0);
  EXPECT_DOUBLE_EQ(s.max, 9.0);
  EXPECT_DOUBLE_EQ(s.p50, 4.5);  // rank 3.5 between 4 and 5
  EXPECT_LE(s.p50, s.p95);
  EXPECT_LE(s.p95, s.p99);
  EXPECT_DOUBLE_EQ(summarize({3}).sd, 0.0);
  EXPECT_EQ(summary_to_json(summarize({})).dump(), R"({"n":0})");
}
