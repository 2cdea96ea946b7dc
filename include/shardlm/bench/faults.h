// `shardlm-bench faults`: the fault matrix (issue 19 point 5). The cells start and break
// servers on network-namespace hosts, which needs root, `ip netns`, tc and the netns
// tools of ../shared; the runner is tools/fault-matrix.py (found beside the build
// directory, or through --tools-dir), run with Debian's python3. This subcommand
// makes the result directory OUT/LABEL/faults-TIME/, passes the options on, and
// returns the runner's exit code: 0 every cell that could run passed, 1 a cell failed,
// 2 the matrix could not run (the reason is printed). The runner prints the matrix and
// writes cells.json and matrix.md there (`shardlm-bench report` shows the latest).
// Threads: runs on the calling thread; the runner is a child process.
#pragma once
#include <string>
#include <vector>

namespace shardlm::bench {

struct FaultsConfig {
  std::string out = "results";     // results root
  std::string label = "faults";    // OUT/LABEL/faults-TIME/
  std::string tools_dir;           // "" = tools/ beside the build directory
  std::string model;               // "" = the runner's default (stories260K)
  std::string python = "/usr/bin/python3";
  bool reduced = false;            // the short matrix of the ctest label `faults`
  std::vector<std::string> faults;   // subset of kill9,sigstop,cut,cut_restore,slow ("" = all)
  std::vector<std::string> targets;  // subset of rank0,worker
  std::vector<std::string> phases;   // subset of idle,loading,prefill,decode,draining
  double cut_s = 2.0;              // cut_restore / slow: how long the fault lasts
};

int run_faults(const FaultsConfig& cfg);

}  // namespace shardlm::bench
