// EXIT AUDIT: one line per rank on every exit path (ARCHITECTURE §8):
//   EXIT AUDIT: rank=R, cause=C, uptime_s=..., rss_mb=..., available_mb=..., requests_served=N[, detail=...]
// Causes used: generate_done, server_shutdown, worker_loop_exit, signal_SIGTERM,
// signal_SIGINT, signal_SIGHUP (one rank only), eval_timeout, collective_timeout, peer_lost, memory_guard,
// load_error, error, exception.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

namespace shardlm {

void audit_start(int rank);                 // records the start time
void audit_count_request();                 // one more request served
// Logs the line once per process (later calls are ignored); returns false if already logged.
bool exit_audit(const std::string& cause, const std::string& detail = "");
bool exit_audit_done();

}  // namespace shardlm
