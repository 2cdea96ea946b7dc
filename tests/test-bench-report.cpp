// Report: delta signs, and a report over a hand-made results directory.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "shardlm/bench/report.h"
#include "shardlm/bench/result-dir.h"
#include "shardlm/bench/soak.h"

using namespace shardlm::bench;
namespace fs = std::filesystem;

TEST(BenchReport, DeltaSigns) {
  EXPECT_NEAR(delta_percent(0.9, 1.0), -10.0, 1e-9);
  EXPECT_TRUE(std::isnan(delta_percent(1.0, 0.0)));
  EXPECT_EQ(format_delta("prefill_time_s", 0.9, 1.0), "-10.0% (better)");   // time down: better
  EXPECT_EQ(format_delta("decode_time_s", 1.25, 1.0), "+25.0% (worse)");    // time up: worse
  EXPECT_EQ(format_delta("decode_tok_s", 0.9, 1.0), "-10.0% (worse)");      // tok/s down: worse
  EXPECT_EQ(format_delta("throughput_tok_s", 1.2, 1.0), "+20.0% (better)");
  EXPECT_EQ(format_delta("prefill_tok_s", 1.0, 1.0), "0.0%");
  EXPECT_EQ(format_delta("prefill_tok_s", 1.0, 0.0), "n/a");
}

namespace {
nlohmann::json summary(const std::string& label, double ttft, double prefill_tps, double decode_tps) {
  auto m = [](double mean) { return nlohmann::json{{"n", 2}, {"mean", mean}, {"p50", mean}, {"p95", mean}, {"p99", mean}}; };
  nlohmann::json metrics = {{"prefill_time_s", m(ttft)},  {"prefill_tok_s", m(prefill_tps)}, {"decode_time_s", m(1.0)},
                            {"decode_tok_s", m(decode_tps)}, {"throughput_tok_s", m(5.0)}};
  nlohmann::json c = {{"requests", 2}, {"succeeded", 2}, {"success_rate", 1.0}, {"concurrency", 1}, {"metrics", metrics},
                      {"ttft_s", m(ttft)}, {"itl_s", m(0.01)}, {"aggregate_throughput_tok_s", 9.0},
                      {"http_status_counts", {{"200", 2}}}};
  nlohmann::json s = c;
  s["scenario"] = "single";
  s["label"] = label;
  s["cases"] = {{"single", c}};
  s["case_order"] = {"single"};
  s["checks"] = nlohmann::json::array();
  s["valid"] = true;
  return s;
}
void write(const fs::path& p, const nlohmann::json& j) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << j.dump();
}
}  // namespace

TEST(BenchReport, MarkdownFromResults) {
  const fs::path root = fs::temp_directory_path() / ("bench-report-test-" + std::to_string(::getpid()));
  fs::remove_all(root);
  write(root / "baseline/single-1/summary.json", summary("baseline", 1.0, 100, 10));
  write(root / "baseline/single-1/config.json", {{"started_at", "2026-01-01T00:00:00Z"}});
  write(root / "kv-fp8/single-1/summary.json", summary("kv-fp8", 0.5, 150, 8));
  write(root / "kv-fp8/single-1/config.json", {{"started_at", "2026-01-01T01:00:00Z"}});
  ReportConfig cfg;
  cfg.results = root.string();
  cfg.charts = false;
  ASSERT_EQ(write_report(cfg), 0);
  auto md = read_file((root / "comparison_report.md").string());
  ASSERT_TRUE(md.is_ok());
  const std::string& t = md.value();
  EXPECT_NE(t.find("| baseline | single | 1 | 2 | 100.0% | 1.0000 | 100.0 | 1.0000 | 10.0 | 5.0 |"), std::string::npos) << t;
  EXPECT_NE(t.find("| kv-fp8 | -50.0% (better) | +50.0% (better) | 0.0% | -20.0% (worse) | 0.0% |"), std::string::npos) << t;
  EXPECT_NE(t.find("Charts skipped"), std::string::npos);
  EXPECT_NE(t.find("### single"), std::string::npos);
  fs::remove_all(root);
  cfg.results = root.string();
  EXPECT_EQ(write_report(cfg), 2);  // nothing to read
}

TEST(BenchSoak, ExitAuditLines) {
  const std::string log =
      "[2026-11-23 14:25:09.491] [rank 0] [info] EXIT AUDIT: rank=0, cause=server_shutdown, uptime_s=83.7, rss_mb=23.3\n"
      "[2026-11-23 14:25:09.492] [rank 1] [info] something else\n"
      "[2026-11-23 14:25:09.492] [rank 1] [info] EXIT AUDIT: rank=1, cause=worker_loop_exit, uptime_s=83.7\n";
  const auto a = parse_exit_audits(log);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].rank, 0);
  EXPECT_EQ(a[0].cause, "server_shutdown");
  EXPECT_EQ(a[1].rank, 1);
  EXPECT_EQ(a[1].cause, "worker_loop_exit");
  EXPECT_TRUE(parse_exit_audits("EXIT AUDIT without fields\n").empty());
  EXPECT_TRUE(processes_with("no-such-process-marker-5b1c9e").empty());
}
