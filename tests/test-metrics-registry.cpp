// Metrics registry and its Prometheus text rendering: hand-written expected expositions,
// cumulative histogram buckets, escaping, value formatting, refused registrations,
// concurrent updates, and (when installed) `promtool check metrics` on ShardlmMetrics.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "shardlm/metrics/shardlm-metrics.h"

using namespace shardlm;
using metrics::Registry;

TEST(HttpMetrics, RenderMatchesHandWrittenText) {
  Registry r;
  auto& stop = r.counter("app_requests_finished_total", "Requests that ended.", {{"reason", "stop"}});
  auto& running = r.gauge("app_requests_running", "Running requests.");
  auto& length = r.counter("app_requests_finished_total", "ignored second help", {{"reason", "length"}});
  auto& lat = r.histogram("app_latency_seconds", "Latency.", {0.5, 0.125, 1});  // sorted on registration
  stop.inc();
  stop.inc(2);
  length.inc(0.5);
  running.set(4);
  running.dec();
  lat.observe(0.125);  // le 0.125 (bounds are inclusive)
  lat.observe(0.25);   // le 0.5
  lat.observe(0.75);  // le 1
  lat.observe(7);     // +Inf only
  // sum = 0.125 + 0.25 + 0.75 + 7 = 8.125 (exact in binary)
  const std::string expected =
      "# HELP app_requests_finished_total Requests that ended.\n"
      "# TYPE app_requests_finished_total counter\n"
      "app_requests_finished_total{reason=\"stop\"} 3\n"
      "app_requests_finished_total{reason=\"length\"} 0.5\n"
      "# HELP app_requests_running Running requests.\n"
      "# TYPE app_requests_running gauge\n"
      "app_requests_running 3\n"
      "# HELP app_latency_seconds Latency.\n"
      "# TYPE app_latency_seconds histogram\n"
      "app_latency_seconds_bucket{le=\"0.125\"} 1\n"
      "app_latency_seconds_bucket{le=\"0.5\"} 2\n"
      "app_latency_seconds_bucket{le=\"1\"} 3\n"
      "app_latency_seconds_bucket{le=\"+Inf\"} 4\n"
      "app_latency_seconds_sum 8.125\n"
      "app_latency_seconds_count 4\n";
  EXPECT_EQ(r.render(), expected);
  EXPECT_EQ(r.rejected(), 0u);
  // The same label set returns the same series.
  EXPECT_EQ(&r.counter("app_requests_finished_total", "", {{"reason", "stop"}}), &stop);
}

TEST(HttpMetrics, EmptyRegistryAndFamilies) {
  Registry r;
  EXPECT_EQ(r.render(), "");
  auto& g = r.gauge("x_value", "X.");
  EXPECT_EQ(g.value(), 0.0);
  EXPECT_EQ(r.render(), "# HELP x_value X.\n# TYPE x_value gauge\nx_value 0\n");
}

TEST(HttpMetrics, HistogramBucketsAreCumulativeWithLabels) {
  Registry r;
  auto& h = r.histogram("op_seconds", "Op time.", {1, 2, 4}, {{"op", "read"}});
  // 0.5 -> le1, 1 -> le1, 1.5 -> le2, 3 -> le4, 4 -> le4, 10 -> +Inf, NaN ignored.
  for (double v : {0.5, 1.0, 1.5, 3.0, 4.0, 10.0, std::nan("")}) h.observe(v);
  const auto s = h.snapshot();
  ASSERT_EQ(s.cumulative.size(), 4u);
  EXPECT_EQ(s.cumulative[0], 2u);
  EXPECT_EQ(s.cumulative[1], 3u);
  EXPECT_EQ(s.cumulative[2], 5u);
  EXPECT_EQ(s.cumulative[3], 6u);
  EXPECT_EQ(s.count, 6u);
  EXPECT_EQ(s.sum, 20.0);
  const std::string expected =
      "# HELP op_seconds Op time.\n"
      "# TYPE op_seconds histogram\n"
      "op_seconds_bucket{op=\"read\",le=\"1\"} 2\n"
      "op_seconds_bucket{op=\"read\",le=\"2\"} 3\n"
      "op_seconds_bucket{op=\"read\",le=\"4\"} 5\n"
      "op_seconds_bucket{op=\"read\",le=\"+Inf\"} 6\n"
      "op_seconds_sum{op=\"read\"} 20\n"
      "op_seconds_count{op=\"read\"} 6\n";
  EXPECT_EQ(r.render(), expected);
  // Bounds normalization: unsorted, duplicated and non-finite bounds.
  metrics::Histogram h2({3, 1, 3, std::numeric_limits<double>::infinity(), 2});
  EXPECT_EQ(h2.bounds(), (std::vector<double>{1, 2, 3}));
}

TEST(HttpMetrics, LabelAndHelpEscaping) {
  EXPECT_EQ(metrics::escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(metrics::escape_label_value("plain é"), "plain é");
  EXPECT_EQ(metrics::escape_help("x \"q\" \\ y\nz"), "x \"q\" \\\\ y\\nz");  // quotes stay in help
  Registry r;
  r.counter("esc_total", "Line one\nback\\slash", {{"path", "C:\\dir \"x\"\n"}, {"b", ""}}).inc();
  EXPECT_EQ(r.render(),
            "# HELP esc_total Line one\\nback\\\\slash\n"
            "# TYPE esc_total counter\n"
            "esc_total{path=\"C:\\\\dir \\\"x\\\"\\n\",b=\"\"} 1\n");
}

TEST(HttpMetrics, ValueFormatting) {
  using metrics::format_value;
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(-0.0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(-7), "-7");
  EXPECT_EQ(format_value(1234567890123.0), "1234567890123");  // no exponent for integers
  EXPECT_EQ(format_value(9007199254740991.0), "9007199254740991");  // 2^53 - 1
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(2.5), "2.5");
  EXPECT_EQ(format_value(1e-05), "1e-05");
  EXPECT_EQ(format_value(1e300), "1e+300");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  // Non-integers round-trip exactly.
  for (double v : {1.0 / 3.0, 123.456, 6.02214076e23, 5e-324}) EXPECT_EQ(std::strtod(format_value(v).c_str(), nullptr), v);
}

TEST(HttpMetrics, NameRules) {
  EXPECT_TRUE(metrics::valid_metric_name("shardlm_x:y_1"));
  EXPECT_FALSE(metrics::valid_metric_name("1abc"));
  EXPECT_FALSE(metrics::valid_metric_name("a-b"));
  EXPECT_FALSE(metrics::valid_metric_name(""));
  EXPECT_TRUE(metrics::valid_label_name("reason_2"));
  EXPECT_FALSE(metrics::valid_label_name("__reserved"));
  EXPECT_FALSE(metrics::valid_label_name("a:b"));
  EXPECT_FALSE(metrics::valid_label_name("9a"));
}

TEST(HttpMetrics, RefusedRegistrationsAreDetached) {
  Registry r;
  r.counter("good_total", "Good.").inc();
  auto& no_suffix = r.counter("bad_counter_name", "No _total.");              // 1
  auto& gauge_total = r.gauge("wrong_total", "Gauge named _total.");         // 2
  r.gauge("temp_celsius", "T.").set(20);
  auto& clash = r.histogram("temp_celsius", "Type clash.", {1});             // 3
  auto& bad_label = r.counter("x_total", "Bad label.", {{"le", "1"}});       // 4
  auto& dup_label = r.counter("y_total", "Dup.", {{"a", "1"}, {"a", "2"}});  // 5
  auto& bad_name = r.gauge("has-dash", "Bad name.");                         // 6
  r.histogram("h_seconds", "H.", {1, 2});
  auto& other_bounds = r.histogram("h_seconds", "H.", {1, 3});  // 7
  auto& same_bounds = r.histogram("h_seconds", "H.", {2, 1, 2});  // normalizes to {1, 2}: accepted
  no_suffix.inc();
  gauge_total.set(1);
  clash.observe(5);
  bad_label.inc();
  dup_label.inc();
  bad_name.set(1);
  other_bounds.observe(1);
  same_bounds.observe(1);
  EXPECT_EQ(r.rejected(), 7u);
  EXPECT_EQ(r.render(),
            "# HELP good_total Good.\n# TYPE good_total counter\ngood_total 1\n"
            "# HELP temp_celsius T.\n# TYPE temp_celsius gauge\ntemp_celsius 20\n"
            "# HELP h_seconds H.\n# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"2\"} 1\nh_seconds_bucket{le=\"+Inf\"} 1\n"
            "h_seconds_sum 1\nh_seconds_count 1\n");
  EXPECT_EQ(no_suffix.value(), 1.0);  // detached metrics still work
}

TEST(HttpMetrics, CounterIgnoresNegativeAndNan) {
  metrics::Counter c;
  c.inc(2);
  c.inc(-1);
  c.inc(std::nan(""));
  EXPECT_EQ(c.value(), 2.0);
  metrics::Gauge g;
  g.inc(3);
  g.dec(5);
  EXPECT_EQ(g.value(), -2.0);
}

TEST(HttpMetrics, ConcurrentUpdatesAreExact) {
  Registry r;
  constexpr int kThreads = 8, kIters = 20000;
  auto& c = r.counter("conc_total", "C.");
  auto& g = r.gauge("conc_gauge_value", "G.");
  auto& h = r.histogram("conc_seconds", "H.", {0.5});
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kIters; ++i) {
        c.inc();
        g.inc(2);
        g.dec();
        h.observe((i + t) % 2 ? 1.0 : 0.25);  // exact binary values: the sum is exact
        if (i % 1000 == 0) {  // registration and render race with the updates
          r.counter("conc_labeled_total", "L.", {{"t", std::to_string(t)}}).inc();
          (void)r.render();
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  const double n = static_cast<double>(kThreads) * kIters;
  EXPECT_EQ(c.value(), n);
  EXPECT_EQ(g.value(), n);
  const auto s = h.snapshot();
  EXPECT_EQ(s.count, static_cast<uint64_t>(n));
  EXPECT_EQ(s.cumulative[0], static_cast<uint64_t>(n) / 2);
  EXPECT_EQ(s.sum, n / 2 * 1.0 + n / 2 * 0.25);
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(r.counter("conc_labeled_total", "L.", {{"t", std::to_string(t)}}).value(), kIters / 1000);
  EXPECT_EQ(r.rejected(), 0u);
}

TEST(HttpMetrics, ShardlmMetricsFamilies) {
  Registry r;
  ShardlmMetrics m(r);
  EXPECT_EQ(r.rejected(), 0u);  // every standard name follows the rules
  EXPECT_EQ(&m.requests_finished("stop"), &r.counter("shardlm_requests_finished_total", "", {{"reason", "stop"}}));
  m.requests_finished("length").inc();
  m.requests_finished("cancelled").inc();  // an unexpected reason gets its own series
  m.set_kv_blocks(25, 100);
  EXPECT_EQ(m.kv_usage_ratio.value(), 0.25);
  m.set_kv_blocks(0, 0);
  EXPECT_EQ(m.kv_usage_ratio.value(), 0.0);
  m.observe_step(0.02, 0.005);
  m.observe_step(0.04, 0.015);
  EXPECT_EQ(m.steps_total.value(), 2.0);
  EXPECT_DOUBLE_EQ(m.collective_seconds_total.value(), 0.02);
  EXPECT_EQ(m.step_duration_seconds.snapshot().count, 2u);
  EXPECT_EQ(&m.http_responses(200), &m.http_responses(200));
  const std::string text = r.render();
  EXPECT_NE(text.find("shardlm_requests_finished_total{reason=\"length\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("shardlm_requests_finished_total{reason=\"cancelled\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("shardlm_requests_finished_total{reason=\"timeout\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("shardlm_time_to_first_token_seconds_bucket{le=\"60\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("shardlm_inter_token_latency_seconds_bucket{le=\"0.001\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("shardlm_step_duration_seconds_bucket{le=\"0.025\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("shardlm_http_responses_total{code=\"200\"} 0\n"), std::string::npos);
  m.spec_accepted_tokens_total.inc(3);
  const std::string with_spec = r.render();
  EXPECT_NE(with_spec.find("# TYPE shardlm_spec_decode_drafts_total counter\n"), std::string::npos);
  EXPECT_NE(with_spec.find("shardlm_spec_decode_draft_tokens_total 0\n"), std::string::npos);
  EXPECT_NE(with_spec.find("shardlm_spec_decode_accepted_tokens_total 3\n"), std::string::npos);
  // Every family is rendered once with HELP and TYPE.
  size_t helps = 0, types = 0;
  for (size_t p = 0; (p = text.find("# HELP ", p)) != std::string::npos; ++p) ++helps;
  for (size_t p = 0; (p = text.find("# TYPE ", p)) != std::string::npos; ++p) ++types;
  EXPECT_EQ(helps, 37u);  // 19 + the three speculative decoding counters + 15 KV tier / session families
  EXPECT_EQ(types, 37u);
  m.kv_tiers.restored_blocks.inc(5);
  m.kv_tiers.pinned_bytes.set(4096);
  const std::string with_kv = r.render();
  EXPECT_NE(with_kv.find("# TYPE shardlm_kv_restored_blocks_total counter\n"), std::string::npos);
  EXPECT_NE(with_kv.find("shardlm_kv_restored_blocks_total 5\n"), std::string::npos);
  EXPECT_NE(with_kv.find("shardlm_session_pinned_bytes 4096\n"), std::string::npos);
  EXPECT_NE(with_kv.find("shardlm_kv_disk_write_drops_total 0\n"), std::string::npos);
}

namespace {

bool have_promtool() { return std::system("command -v promtool >/dev/null 2>&1") == 0; }

// Runs `promtool check metrics < path`; returns its exit status, output in *out.
int run_promtool(const std::string& path, std::string* out) {
  const std::string cmd = "promtool check metrics < '" + path + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out->append(buf, n);
  const int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string write_temp(const std::string& text) {
  char tmpl[] = "/tmp/shardlm-metrics-XXXXXX";
  const int fd = mkstemp(tmpl);
  if (fd < 0) return {};
  close(fd);
  std::ofstream(tmpl, std::ios::binary) << text;
  return tmpl;
}

}  // namespace

TEST(HttpMetrics, PromtoolAcceptsShardlmMetrics) {
  if (!have_promtool()) GTEST_SKIP() << "promtool not installed";
  Registry r;
  ShardlmMetrics m(r);
  m.requests_running.set(3);
  m.requests_waiting.set(1);
  m.requests_finished("stop").inc(5);
  m.requests_finished("length").inc();
  m.requests("chat_completions").inc(6);
  m.requests("completions").inc();
  m.http_responses(200).inc(6);
  m.http_responses(429).inc();
  m.prompt_tokens_total.inc(1200);
  m.generation_tokens_total.inc(345);
  m.cached_prompt_tokens_total.inc(64);
  m.time_to_first_token_seconds.observe(0.2);
  m.inter_token_latency_seconds.observe(0.03);
  m.request_duration_seconds.observe(4.5);
  m.set_kv_blocks(30, 512);
  m.prefix_cache_queries_total.inc(1200);
  m.prefix_cache_hits_total.inc(64);
  m.observe_step(0.031, 0.004);
  m.model_loaded.set(1);
  m.rank_resident_bytes(0).set(1.5e9);
  m.rank_resident_bytes(1).set(1234567890);
  // Label escaping must survive the real parser too.
  r.counter("shardlm_test_escapes_total", "Escapes \\ and\nnewlines.", {{"v", "a\\b\"c\nd"}}).inc();
  ASSERT_EQ(r.rejected(), 0u);
  const std::string path = write_temp(r.render());
  ASSERT_FALSE(path.empty());
  std::string out;
  const int rc = run_promtool(path, &out);
  std::remove(path.c_str());
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "");

  // The check can fail: promtool flags a counter without _total (built by hand here,
  // since the registry refuses it).
  const std::string bad = write_temp("# HELP shardlm_bad Bad.\n# TYPE shardlm_bad counter\nshardlm_bad 1\n");
  std::string bad_out;
  EXPECT_NE(run_promtool(bad, &bad_out), 0);
  EXPECT_NE(bad_out.find("_total"), std::string::npos) << bad_out;
  std::remove(bad.c_str());
}
