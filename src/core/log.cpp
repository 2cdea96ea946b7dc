#include "shardlm/core/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace shardlm {

static int g_rank = 0;

void log_init(int rank, const std::string& level, const std::string& file_pattern) {
  g_rank = rank;
  // Logs go to stderr so that generated text on stdout stays clean.
  auto logger = spdlog::stderr_color_mt("shardlm-r" + std::to_string(rank));
  if (!file_pattern.empty()) {
    // Each rank also writes its own file: mpirun stops forwarding a rank's stderr once
    // it aborts a job, and the EXIT AUDIT lines written then must not be lost.
    std::string path = file_pattern;
    if (auto p = path.find("{rank}"); p != std::string::npos) path.replace(p, 6, std::to_string(rank));
    try {
      logger->sinks().push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(path));
    } catch (const std::exception& e) {
      logger->warn("cannot write the log file {}: {}", path, e.what());
    }
  }
  logger->set_pattern(fmt::format("[%Y-%m-%d %H:%M:%S.%e] [rank {}] [%^%l%$] %v", rank));
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
}

int log_rank() { return g_rank; }

}  // namespace shardlm
