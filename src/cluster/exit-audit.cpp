#include "shardlm/cluster/exit-audit.h"

#include <chrono>
#include <cstdio>

#include "shardlm/core/log.h"
#include "shardlm/core/memory.h"

namespace shardlm {

namespace {
std::atomic<bool> g_done{false};
std::atomic<uint64_t> g_requests{0};
int g_rank = 0;
std::chrono::steady_clock::time_point g_start = std::chrono::steady_clock::now();
}  // namespace

void audit_start(int rank) {
  g_rank = rank;
  g_start = std::chrono::steady_clock::now();
}

void audit_count_request() { g_requests.fetch_add(1); }

bool exit_audit_done() { return g_done.load(); }

bool exit_audit(const std::string& cause, const std::string& detail) {
  if (g_done.exchange(true)) return false;
  double up = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
  std::string line = fmt::format("EXIT AUDIT: rank={}, cause={}, uptime_s={:.1f}, rss_mb={:.1f}, available_mb={:.0f}, requests_served={}",
                                 g_rank, cause, up, rss_bytes() / 1048576.0, available_bytes() / 1048576.0,
                                 g_requests.load());
  if (!detail.empty()) line += ", detail=" + detail;
  // Logged whatever --log-level says: this line must appear on every exit path.
  auto logger = spdlog::default_logger();
  const auto level = logger->level();
  if (level > spdlog::level::info) logger->set_level(spdlog::level::info);
  LOG_INFO("{}", line);
  logger->set_level(level);
  spdlog::default_logger()->flush();
  std::fflush(stdout);
  std::fflush(stderr);
  return true;
}

}  // namespace shardlm
