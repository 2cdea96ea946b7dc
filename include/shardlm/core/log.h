// Logging: spdlog with every line tagged by the MPI rank ("[rank 0]").
#pragma once
#include <spdlog/spdlog.h>

namespace shardlm {

// Call once per process, after the rank is known (before MPI: rank from the
// OMPI_COMM_WORLD_RANK environment, or 0). level: "trace".."off".
// file_pattern: also append to this file ("{rank}" becomes the rank); "" = stderr only.
void log_init(int rank, const std::string& level = "info", const std::string& file_pattern = "");
int log_rank();

}  // namespace shardlm

#define LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define LOG_DEBUG(...) spdlog::debug(__VA_ARGS__)
#define LOG_INFO(...) spdlog::info(__VA_ARGS__)
#define LOG_WARN(...) spdlog::warn(__VA_ARGS__)
#define LOG_ERROR(...) spdlog::error(__VA_ARGS__)
