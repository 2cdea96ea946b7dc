// ResultDir: the directory of one benchmark run, OUT/LABEL/SCENARIO-YYYYmmdd-HHMMSS
// (a "-2", "-3" suffix if it exists), and the files written into it:
//   config.json        parameters, server /admin/status snapshot, git commit, host
//   requests.jsonl     one line per request
//   summary.json       aggregates (see run-summary.h)
//   metrics_before.txt, metrics_after.txt, metrics_delta.json   /metrics snapshots
// Threads: used by the scenario's thread only.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shardlm/core/status.h"

namespace shardlm::bench {

class ResultDir {
 public:
  static Result<ResultDir> create(const std::string& out, const std::string& label, const std::string& scenario);
  const std::string& path() const { return path_; }
  const std::string& run_id() const { return run_id_; }   // the last path component
  Status write_text(const std::string& name, const std::string& text) const;
  Status write_json(const std::string& name, const nlohmann::json& j) const;  // indented
  Status write_jsonl(const std::string& name, const std::vector<nlohmann::json>& lines) const;

 private:
  std::string path_, run_id_;
};

// {"hostname","kernel","cpus","mem_total_bytes"} of this machine.
nlohmann::json host_info();
// "abc123def456" (+"-dirty") of the checkout holding this program's source, or of the
// current directory; "unknown" when git or the checkout is missing.
std::string git_commit();
// Directory of the running executable (/proc/self/exe).
std::string exe_dir();
// UTC time as "2026-11-23T10:00:00Z".
std::string utc_now_iso();
Result<std::string> read_file(const std::string& path);

}  // namespace shardlm::bench
