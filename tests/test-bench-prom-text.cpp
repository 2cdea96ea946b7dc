// Prometheus text parsing and snapshot deltas.
#include <gtest/gtest.h>

#include <cmath>

#include "shardlm/bench/prom-text.h"

using namespace shardlm::bench;

namespace {
const char* kBefore = R"(# HELP shardlm_requests_total requests received
# TYPE shardlm_requests_total counter
shardlm_requests_total{endpoint="completions"} 3
shardlm_requests_total{endpoint="chat_completions"} 0
# TYPE shardlm_requests_running gauge
shardlm_requests_running 1
# TYPE shardlm_ttft_seconds histogram
shardlm_ttft_seconds_bucket{le="0.1"} 2
shardlm_ttft_seconds_bucket{le="+Inf"} 3
shardlm_ttft_seconds_sum 0.45
shardlm_ttft_seconds_count 3
weird{b="x\"y",a="1"} 2.5e-3 1700000000
)";
const char* kAfter = R"(# TYPE shardlm_requests_total counter
shardlm_requests_total{endpoint="completions"} 10
shardlm_requests_total{endpoint="chat_completions"} 0
shardlm_requests_total{endpoint="new"} 2
# TYPE shardlm_requests_running gauge
shardlm_requests_running 0
# TYPE shardlm_ttft_seconds histogram
shardlm_ttft_seconds_bucket{le="0.1"} 4
shardlm_ttft_seconds_bucket{le="+Inf"} 8
shardlm_ttft_seconds_sum 1.2
shardlm_ttft_seconds_count 8
)";
}  // namespace

TEST(BenchPromText, ParsesSeriesAndLabels) {
  auto s = parse_prom_text(kBefore);
  ASSERT_TRUE(s.is_ok()) << s.message();
  EXPECT_EQ(s->values.size(), 8u);
  EXPECT_DOUBLE_EQ(s->values.at(R"(shardlm_requests_total{endpoint="completions"})"), 3);
  EXPECT_DOUBLE_EQ(s->values.at("shardlm_requests_running"), 1);
  EXPECT_DOUBLE_EQ(s->values.at(R"(shardlm_ttft_seconds_bucket{le="+Inf"})"), 3);
  EXPECT_DOUBLE_EQ(s->values.at(R"(weird{a="1",b="x\"y"})"), 0.0025);  // labels sorted, escape kept
  EXPECT_EQ(prom_type_of(s.value(), "shardlm_ttft_seconds_bucket"), "histogram");
  EXPECT_EQ(prom_type_of(s.value(), "shardlm_requests_running"), "gauge");
  EXPECT_EQ(prom_type_of(s.value(), "weird"), "untyped");
}

TEST(BenchPromText, MalformedLinesAreErrors) {
  auto a = parse_prom_text("ok 1\nfoo{a=1} 3\n");
  ASSERT_FALSE(a.is_ok());
  EXPECT_NE(a.message().find("line 2"), std::string::npos);
  EXPECT_FALSE(parse_prom_text("foo bar\n").is_ok());
  EXPECT_FALSE(parse_prom_text("foo{a=\"1\" 3\n").is_ok());
  auto inf = parse_prom_text("x +Inf\ny NaN\n");
  ASSERT_TRUE(inf.is_ok());
  EXPECT_TRUE(std::isinf(inf->values.at("x")));
}

TEST(BenchPromText, Delta) {
  auto b = parse_prom_text(kBefore), a = parse_prom_text(kAfter);
  ASSERT_TRUE(b.is_ok() && a.is_ok());
  const auto d = prom_delta(b.value(), a.value());
  EXPECT_DOUBLE_EQ(d["counters"][R"(shardlm_requests_total{endpoint="completions"})"].get<double>(), 7);
  EXPECT_DOUBLE_EQ(d["counters"][R"(shardlm_requests_total{endpoint="new"})"].get<double>(), 2);  // absent before = 0
  EXPECT_DOUBLE_EQ(d["counters"]["shardlm_ttft_seconds_count"].get<double>(), 5);
  EXPECT_NEAR(d["counters"]["shardlm_ttft_seconds_sum"].get<double>(), 0.75, 1e-12);
  EXPECT_DOUBLE_EQ(d["gauges"]["shardlm_requests_running"]["before"].get<double>(), 1);
  EXPECT_DOUBLE_EQ(d["gauges"]["shardlm_requests_running"]["after"].get<double>(), 0);
  EXPECT_FALSE(d["counters"].contains("shardlm_requests_running"));
}
