// Phase probes for the KV-tier scenarios: what the server's tiers and the rank
// processes' disks did during one phase of a run (populate, thrash, replay, a burst).
//
// A PhaseSnapshot holds /metrics (parsed) and /proc/<pid>/io of every rank process that
// runs on this host (pids and hosts from /admin/status ranks[]); phase_delta() of two
// snapshots is
//   {"metrics": {name: after - before, ...}   the tier counters of kTierMetrics
//    "disk_io": [{"rank","pid","host","read_bytes","write_bytes","rchar","wchar"}
//                | {"rank","pid","host","error"}],
//    "disk_io_total": {"read_bytes","write_bytes","rchar","wchar","ranks_read"}}
// read_bytes / write_bytes are what the process made the block layer fetch and
// dirtied for storage (a read served from the page cache is not in read_bytes; rchar
// counts it), as proc(5) defines them. A rank on another host, or one whose io file
// cannot be read, has an "error" instead and is not in the total.
// Threads: used by the scenario's thread only.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "shardlm/bench/http-client.h"
#include "shardlm/bench/prom-text.h"
#include "shardlm/core/status.h"

namespace shardlm::bench {

// Short names and the /metrics counters they stand for (server/shardlm-metrics.cpp,
// engine/response-cache.cpp).
struct TierMetric {
  const char* name;    // key in a phase's "metrics"
  const char* series;  // Prometheus series (no labels)
};
inline constexpr TierMetric kTierMetrics[] = {
    {"prefix_query_tokens", "shardlm_prefix_cache_queries_total"},
    {"prefix_hit_tokens", "shardlm_prefix_cache_hits_total"},
    {"cached_prompt_tokens", "shardlm_cached_prompt_tokens_total"},
    {"prompt_tokens", "shardlm_prompt_tokens_total"},
    {"offloaded_blocks", "shardlm_kv_offloaded_blocks_total"},
    {"offloaded_bytes", "shardlm_kv_offloaded_bytes_total"},
    {"restored_blocks", "shardlm_kv_restored_blocks_total"},
    {"restored_bytes", "shardlm_kv_restored_bytes_total"},
    {"disk_hits", "shardlm_kv_disk_hits_total"},
    {"disk_misses", "shardlm_kv_disk_misses_total"},
    {"restore_failures", "shardlm_kv_restore_failures_total"},
    {"disk_write_drops", "shardlm_kv_disk_write_drops_total"},
    {"disk_errors", "shardlm_kv_disk_errors_total"},
    {"session_hits", "shardlm_session_hits_total"},
    {"response_cache_hits", "shardlm_response_cache_hits_total"},
    {"response_cache_misses", "shardlm_response_cache_misses_total"},
};

struct ProcIo {
  uint64_t rchar = 0, wchar = 0, read_bytes = 0, write_bytes = 0;
};
// Parses the text of /proc/<pid>/io ("key: value" lines); an error when a field is missing.
Result<ProcIo> parse_proc_io(std::string_view text);
Result<ProcIo> read_proc_io(int64_t pid);

struct RankProcess {
  int rank = -1;
  int64_t pid = 0;    // 0: unknown (a server without pids in /admin/status)
  std::string host;
  bool local = false;  // same host name as this machine
};
// The rank processes of an /admin/status answer.
std::vector<RankProcess> rank_processes(const nlohmann::json& status);

struct RankIo {
  RankProcess proc;
  bool ok = false;
  ProcIo io;
  std::string error;  // why not ok
};

struct PhaseSnapshot {
  bool metrics_ok = false;
  PromSnapshot metrics;
  std::string metrics_error;
  std::vector<RankIo> io;
};
// /metrics through `client`, and the io of `procs` (read here, so only local ones).
PhaseSnapshot take_snapshot(HttpClient& client, const std::vector<RankProcess>& procs);
nlohmann::json phase_delta(const PhaseSnapshot& before, const PhaseSnapshot& after);
// The value of one tier counter in a phase_delta() result (0 when absent).
double phase_metric(const nlohmann::json& delta, const std::string& name);

}  // namespace shardlm::bench
