#include "shardlm/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace shardlm {

static int g_rank = 0;

void log_init(int rank, const std::string& level) {
  g_rank = rank;
  // Logs go to stderr so that generated text on stdout stays clean.
  auto logger = spdlog::stderr_color_mt("shardlm-r" + std::to_string(rank));
  logger->set_pattern(fmt::format("[%Y-%m-%d %H:%M:%S.%e] [rank {}] [%^%l%$] %v", rank));
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
}

int log_rank() { return g_rank; }

}  // namespace shardlm
