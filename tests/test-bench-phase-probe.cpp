// Phase probes: /proc/<pid>/io parsing, the rank processes of /admin/status, and the
// per-phase deltas of the tier counters and the ranks' disk I/O.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "shardlm/bench/phase-probe.h"

using namespace shardlm::bench;

namespace {

// The format proc(5) documents, with this kernel's field order.
const char* kIo = "rchar: 323934931\nwchar: 323929600\nsyscr: 632687\nsyscw: 632675\nread_bytes: 4096\nwrite_bytes: 323932160\n"
                  "cancelled_write_bytes: 0\n";

PhaseSnapshot snapshot(const char* metrics, std::vector<RankIo> io) {
  PhaseSnapshot s;
  auto m = parse_prom_text(metrics);
  EXPECT_TRUE(m.is_ok()) << m.message();
  s.metrics = m.value();
  s.metrics_ok = true;
  s.io = std::move(io);
  return s;
}

RankIo io_of(int rank, int64_t pid, uint64_t rb, uint64_t wb) {
  RankIo r;
  r.proc = {rank, pid, "h", true};
  r.ok = true;
  r.io.read_bytes = rb;
  r.io.write_bytes = wb;
  r.io.rchar = rb * 2;
  r.io.wchar = wb * 2;
  return r;
}

std::string hostname() {
  char h[256] = {};
  gethostname(h, sizeof h - 1);
  return h;
}

}  // namespace

TEST(BenchPhaseProbe, ParsesProcIo) {
  auto io = parse_proc_io(kIo);
  ASSERT_TRUE(io.is_ok()) << io.message();
  EXPECT_EQ(io->rchar, 323934931u);
  EXPECT_EQ(io->wchar, 323929600u);
  EXPECT_EQ(io->read_bytes, 4096u);
  EXPECT_EQ(io->write_bytes, 323932160u);
}

TEST(BenchPhaseProbe, ProcIoWithoutAFieldIsAnError) {
  auto io = parse_proc_io("rchar: 1\nwchar: 2\nread_bytes: 3\n");
  ASSERT_FALSE(io.is_ok());
  EXPECT_NE(io.message().find("write_bytes"), std::string::npos) << io.message();
  EXPECT_FALSE(parse_proc_io("rchar: x\n").is_ok());
}

TEST(BenchPhaseProbe, ReadsThisProcessesIoAndSeesItsWrites) {
  auto before = read_proc_io(getpid());
  if (!before.is_ok()) GTEST_SKIP() << "no /proc/self/io here: " << before.message();
  const std::string path = ::testing::TempDir() + "phase-probe-io.bin";
  {
    std::ofstream f(path, std::ios::binary);
    f << std::string(1 << 16, 'x');
  }
  auto after = read_proc_io(getpid());
  ASSERT_TRUE(after.is_ok()) << after.message();
  EXPECT_GE(after->wchar - before->wchar, 1u << 16);  // the syscall-level counter always sees it
  std::remove(path.c_str());
  EXPECT_FALSE(read_proc_io(-5).is_ok());
}

TEST(BenchPhaseProbe, RankProcessesFromAdminStatus) {
  const auto j = nlohmann::json::parse(R"({"ranks":[{"rank":0,"host":")" + hostname() +
                                       R"(","pid":123},{"rank":1,"host":"elsewhere","pid":456},{"rank":2,"host":"x"}]})");
  const auto p = rank_processes(j);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].pid, 123);
  EXPECT_TRUE(p[0].local);
  EXPECT_FALSE(p[1].local);
  EXPECT_EQ(p[2].pid, 0);  // an older server without pids
  EXPECT_TRUE(rank_processes(nlohmann::json::object()).empty());
}

TEST(BenchPhaseProbe, SnapshotOfRemoteOrUnknownRanksSaysWhy) {
  // No server needed for the io part: metrics fail (unreachable), io entries explain themselves.
  HttpClient c(HttpClientConfig{parse_url("http://127.0.0.1:1").value(), 1.0});
  auto s = take_snapshot(c, {{0, 0, "h", true}, {1, 99, "other", false}});
  EXPECT_FALSE(s.metrics_ok);
  ASSERT_EQ(s.io.size(), 2u);
  EXPECT_NE(s.io[0].error.find("no pid"), std::string::npos);
  EXPECT_NE(s.io[1].error.find("other"), std::string::npos);
}

TEST(BenchPhaseProbe, DeltaOfTierCountersAndDiskIo) {
  const char* before =
      "# TYPE shardlm_kv_restored_blocks_total counter\nshardlm_kv_restored_blocks_total 5\n"
      "# TYPE shardlm_prefix_cache_hits_total counter\nshardlm_prefix_cache_hits_total 100\n";
  const char* after =
      "# TYPE shardlm_kv_restored_blocks_total counter\nshardlm_kv_restored_blocks_total 12\n"
      "# TYPE shardlm_prefix_cache_hits_total counter\nshardlm_prefix_cache_hits_total 164\n"
      "# TYPE shardlm_session_hits_total counter\nshardlm_session_hits_total 3\n";
  auto b = snapshot(before, {io_of(0, 10, 100, 1000), io_of(1, 11, 0, 0)});
  auto a = snapshot(after, {io_of(0, 10, 4196, 9000), io_of(1, 12, 50, 50)});
  const auto d = phase_delta(b, a);
  EXPECT_EQ(phase_metric(d, "restored_blocks"), 7);
  EXPECT_EQ(phase_metric(d, "prefix_hit_tokens"), 64);
  EXPECT_EQ(phase_metric(d, "session_hits"), 3);  // absent before counts as 0
  EXPECT_EQ(phase_metric(d, "disk_hits"), 0);     // absent on both sides
  for (const auto& m : kTierMetrics) EXPECT_TRUE(d["metrics"].contains(m.name)) << m.name;
  ASSERT_EQ(d["disk_io"].size(), 2u);
  EXPECT_EQ(d["disk_io"][0]["read_bytes"], 4096);
  EXPECT_EQ(d["disk_io"][0]["write_bytes"], 8000);
  EXPECT_EQ(d["disk_io"][0]["wchar"], 16000);
  // Rank 1's process changed between the snapshots: no difference is made up.
  EXPECT_TRUE(d["disk_io"][1].contains("error"));
  EXPECT_EQ(d["disk_io_total"]["write_bytes"], 8000);
  EXPECT_EQ(d["disk_io_total"]["ranks_read"], 1);
}

TEST(BenchPhaseProbe, MetricsErrorIsKept) {
  PhaseSnapshot b, a;
  b.metrics_error = "unreachable";
  const auto d = phase_delta(b, a);
  EXPECT_EQ(d["metrics"]["error"], "unreachable");
  EXPECT_EQ(phase_metric(d, "restored_blocks"), 0);
}
