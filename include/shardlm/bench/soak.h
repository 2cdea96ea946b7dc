// `shardlm-bench soak`: the memory-leak harness. It launches the server through the
// launch script (launch/launch_baseline.sh: MODEL, RANKS, PORT, RUN_DIR, LOG_LEVEL),
// runs the scenarios once as a warm-up cycle (one-time allocations happen there), then
// unloads to take each rank's baseline (resident_anon_bytes from /admin/status, fresh
// after every load/unload); then for each cycle it loads, runs the scenarios, unloads
// and compares every rank's anonymous RSS with its baseline (growth at most
// max(tolerance x baseline, floor_mib)); finally it stops the server (launch/stop_server.sh), checks that every
// rank logged an EXIT AUDIT line with the expected cause (rank 0 server_shutdown, the
// others worker_loop_exit) and that no process with RUN_DIR on its command line is
// left. Results: OUT/LABEL/soak-TIME/{config.json,summary.json} plus the scenarios'
// own run directories.
// Threads: runs on the calling thread (scenarios start their own workers).
#pragma once
#include <string>
#include <vector>

#include "shardlm/bench/scenario.h"

namespace shardlm::bench {

struct SoakConfig {
  BenchOptions bench;                 // url is derived from port; label, out, requests...
  std::string launch_dir;             // "" = launch/ beside the build directory
  std::string model;                  // "" = the launch script's default
  int ranks = 2;                      // default 2
  int port = 18080;                   // default 18080
  std::string run_dir;                // "" = OUT/LABEL/soak-run
  std::string log_level = "info";     // EXIT AUDIT is logged at info
  int cycles = 3;                     // load/unload cycles (default 3)
  std::vector<std::string> scenarios = {"single", "concurrent"};  // per cycle
  double tolerance = 0.03;            // allowed anon RSS growth (default 3%)
  // Growth always allowed, MiB (default 0). A toy model's unloaded heap is ~4 MiB, where
  // 3% (120 KiB) is within the allocator's drift over a few cycles; set 0.5-1 there.
  double floor_mib = 0;
  std::vector<std::string> serve_args;  // extra `shardlm serve` flags
};

int run_soak(const SoakConfig& cfg);

struct AuditLine {
  int rank = -1;
  std::string cause;
  std::string line;
};
// EXIT AUDIT lines in a log ("EXIT AUDIT: rank=R, cause=C, ...").
std::vector<AuditLine> parse_exit_audits(const std::string& log_text);
// PIDs of live processes whose command line contains `marker`.
std::vector<int> processes_with(const std::string& marker);

}  // namespace shardlm::bench
