// Request records: the five metrics by hand, invalid records, identity hashes, summaries.
#include <gtest/gtest.h>

#include "shardlm/bench/request-record.h"
#include "shardlm/bench/run-summary.h"

using namespace shardlm::bench;

namespace {
RequestRecord good() {
  RequestRecord r;
  r.ok = true;
  r.http_status = 200;
  r.stream = true;
  r.prompt_tokens = 100;
  r.completion_tokens = 11;
  r.token_times_s = {0.5, 0.7, 0.9};
  r.last_token_s = 1.5;
  return r;
}
}  // namespace

TEST(BenchRecord, FiveMetricsByHand) {
  RequestRecord r = good();
  compute_metrics(r);
  ASSERT_TRUE(r.valid) << r.invalid_reason;
  EXPECT_DOUBLE_EQ(*r.prefill_time_s, 0.5);
  EXPECT_DOUBLE_EQ(*r.prefill_tok_s, 200.0);     // 100 / 0.5
  EXPECT_DOUBLE_EQ(*r.decode_time_s, 1.0);       // 1.5 - 0.5
  EXPECT_DOUBLE_EQ(*r.decode_tok_s, 10.0);       // (11 - 1) / 1.0
  EXPECT_DOUBLE_EQ(*r.throughput_tok_s, 11 / 1.5);
  const auto g = itl_gaps(r);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_NEAR(g[0], 0.2, 1e-12);
  // Without a finish chunk the last token chunk ends decode.
  r.last_token_s.reset();
  compute_metrics(r);
  EXPECT_NEAR(*r.decode_time_s, 0.4, 1e-12);
}

TEST(BenchRecord, InvalidRecordsAreMarked) {
  RequestRecord r = good();
  r.ok = false;
  compute_metrics(r);
  EXPECT_FALSE(r.valid);
  EXPECT_FALSE(r.prefill_time_s.has_value());

  r = good();
  r.stream = false;
  r.token_times_s.clear();
  compute_metrics(r);
  EXPECT_FALSE(r.valid);
  EXPECT_NE(r.invalid_reason.find("not streamed"), std::string::npos);
  EXPECT_TRUE(r.throughput_tok_s.has_value());  // still measurable

  r = good();
  r.completion_tokens = 1;
  compute_metrics(r);
  EXPECT_FALSE(r.valid);
  EXPECT_FALSE(r.decode_tok_s.has_value());

  r = good();
  r.prompt_tokens = -1;
  compute_metrics(r);
  EXPECT_FALSE(r.valid);
  EXPECT_NE(r.invalid_reason.find("usage"), std::string::npos);

  r = good();
  r.token_times_s = {0.5};
  r.last_token_s = 0.5;  // everything in one read: no decode interval
  compute_metrics(r);
  EXPECT_FALSE(r.valid);
  EXPECT_FALSE(r.decode_time_s.has_value());
}

TEST(BenchRecord, IdentityHash) {
  // FNV-1a 64 reference vectors.
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ull);
  GenParams p;
  const std::string h = identity_hash("Once upon a time", p.to_json());
  EXPECT_EQ(h.size(), 16u);
  EXPECT_EQ(h, identity_hash("Once upon a time", GenParams{}.to_json()));
  GenParams q = p;
  q.max_tokens = 65;
  EXPECT_NE(h, identity_hash("Once upon a time", q.to_json()));
  EXPECT_NE(h, identity_hash("Once upon a time.", p.to_json()));
  // The canonical JSON has sorted keys, so the hash does not depend on field order.
  EXPECT_EQ(p.to_json().dump(), R"({"endpoint":"completions","ignore_eos":true,"max_tokens":64,"seed":null,"stream":true,"temperature":0.0})");
}

TEST(BenchRecord, SummaryCountsAndChecks) {
  RequestRecord a = good(), b = good(), c;
  compute_metrics(a);
  b.token_times_s = {0.25, 0.5};
  b.last_token_s = 1.25;
  compute_metrics(b);
  c.http_status = 429;
  c.error = "busy";
  compute_metrics(c);
  const auto s = summarize_records({a, b, c}, 2.0);
  EXPECT_EQ(s["requests"], 3);
  EXPECT_EQ(s["succeeded"], 2);
  EXPECT_EQ(s["valid_requests"], 2);
  EXPECT_NEAR(s["success_rate"].get<double>(), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(s["http_status_counts"]["200"], 2);
  EXPECT_EQ(s["http_status_counts"]["429"], 1);
  EXPECT_DOUBLE_EQ(s["aggregate_throughput_tok_s"].get<double>(), 22 / 2.0);
  EXPECT_DOUBLE_EQ(s["metrics"]["prefill_time_s"]["mean"].get<double>(), 0.375);  // (0.5 + 0.25) / 2
  EXPECT_TRUE(summary_problems(s).empty());
  auto bad = s;
  bad["ttft_s"]["p95"] = 10.0;  // above p99
  bad["metrics"].erase("decode_tok_s");
  EXPECT_EQ(summary_problems(bad).size(), 2u);
  const auto j = record_to_json(a);
  for (const char* m : kFiveMetrics) EXPECT_TRUE(j[m].is_number()) << m;
  EXPECT_TRUE(metric_lower_is_better("decode_time_s"));
  EXPECT_FALSE(metric_lower_is_better("decode_tok_s"));
}
