// Runs a list of generation requests with N workers, each with its own keep-alive
// connection: closed loop (a worker sends its next request when the last one ended)
// or open loop (each request is due at its at_s; a late worker sends it late and the
// record keeps both times).
// Threads: run_requests() starts `concurrency` threads and joins them before it
// returns; the specs are read-only for them, each record is written by one worker.
#pragma once
#include <string>
#include <vector>

#include "shardlm/bench/http-client.h"
#include "shardlm/bench/progress.h"
#include "shardlm/bench/request-record.h"

namespace shardlm::bench {

struct RequestSpec {
  std::string case_name;  // scenario case
  std::string prompt;
  GenParams params;
  double at_s = 0;        // open loop: due time, s after run_start
};

struct RunnerConfig {
  HttpClientConfig client;     // server and timeout
  std::string api_key;         // Bearer for /v1 ("" = none)
  int concurrency = 1;         // workers (default 1)
  bool open_loop = false;      // honour RequestSpec::at_s (default false)
  Progress* progress = nullptr;  // ticked once per request (optional)
};

// Records in spec order, with index = position and identity filled.
std::vector<RequestRecord> run_requests(const std::vector<RequestSpec>& specs, const RunnerConfig& cfg,
                                        Clock::time_point run_start);

}  // namespace shardlm::bench
