// The report's "KV-tier phases" section: one table per run with phases, the tier
// counters and disk bytes of each phase, and the scenario's headline.
#include <gtest/gtest.h>

#include "shardlm/bench/report.h"

using namespace shardlm::bench;

namespace {

nlohmann::json phase(const char* name, double restored, double write_bytes) {
  return {{"name", name},
          {"requests", 2},
          {"wall_s", 1.5},
          {"ttft_s", {{"n", 2}, {"p50", 0.25}, {"p95", 0.5}}},
          {"cached_fraction", 0.75},
          {"metrics", {{"restored_blocks", restored}, {"prefix_hit_tokens", 64}, {"session_hits", 0}}},
          {"disk_io_total", {{"read_bytes", 0}, {"write_bytes", write_bytes}, {"wchar", write_bytes}}}};
}

}  // namespace

TEST(BenchReportPhases, NoRunsNoSection) { EXPECT_EQ(tier_phases_section({}), ""); }

TEST(BenchReportPhases, TableAndHeadlinePerRun) {
  const nlohmann::json replay = {
      {"scenario", "eviction-replay"},
      {"phases", {phase("populate", 0, 2 * 1048576.0), phase("replay", 53, 0)}},
      {"scenario_data",
       {{"eviction-replay",
         {{"kv_tier", "cpu_disk"}, {"populate_ttft_median_s", 2.0}, {"replay_ttft_median_s", 0.5}, {"replay_speedup", 4.0},
          {"replay_cached_fraction", 0.97}, {"replay_restored_blocks", 53}, {"replay_recomputed_tokens", 11}}}}}};
  const nlohmann::json sessions = {
      {"scenario", "sessions"},
      {"phases", {phase("without-session", 0, 0), phase("with-session", 0, 0)}},
      {"scenario_data",
       {{"sessions",
         {{"reduction", 0.7},
          {"without-session", {{"median_turn_s", 10.0}, {"cached_fraction", 0.0}}},
          {"with-session", {{"median_turn_s", 3.0}, {"cached_fraction", 0.9}}}}}}}};
  const std::string md = tier_phases_section({{"ssd", "eviction-replay-1", &replay}, {"ssd", "sessions-1", &sessions}});
  EXPECT_NE(md.find("## KV-tier phases"), std::string::npos);
  EXPECT_NE(md.find("### ssd / eviction-replay-1 (eviction-replay)"), std::string::npos) << md;
  EXPECT_NE(md.find("(4.00×)"), std::string::npos) << md;
  EXPECT_NE(md.find("53 blocks restored"), std::string::npos) << md;
  // populate: 2 requests, TTFT 0.25 / 0.5, 75% cached, 64 prefix-hit tokens, 2.00 MiB written.
  EXPECT_NE(md.find("| populate | 2 | 0.2500 / 0.5000 | 75% | 64 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 0.00 | 2.00 | 2.00 | 1.5 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| replay | 2 | 0.2500 / 0.5000 | 75% | 64 | — | 53 |"), std::string::npos) << md;
  EXPECT_NE(md.find("10.000 s without session_id, 3.000 s with: 70% lower"), std::string::npos) << md;
  EXPECT_NE(md.find("| with-session |"), std::string::npos);
}
