// Benchmark scenarios: the options they share, their registry, and ScenarioRun, the
// frame of one run (result directory, snapshots before and after, warm-up, request
// batches, checks, summary).
//
// Exit codes of a scenario (and of shardlm-bench):
//   0 ok; 1 the run finished but a check failed (failed or invalid requests, a
//   scenario's own expectation); 2 the run could not be made (server unreachable, bad
//   arguments, files not writable); 4 the scenario needs a server feature that does
//   not exist yet ("needs feature ...").
//
// Threads: a scenario runs on the calling thread; ScenarioRun::run() starts workers
// (request-runner.h) and joins them before returning.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shardlm/bench/http-client.h"
#include "shardlm/bench/phase-probe.h"
#include "shardlm/bench/request-record.h"
#include "shardlm/bench/request-runner.h"
#include "shardlm/bench/result-dir.h"

namespace shardlm::bench {

inline constexpr int kExitOk = 0;
inline constexpr int kExitCheckFailed = 1;
inline constexpr int kExitError = 2;
inline constexpr int kExitNeedsFeature = 4;

struct BenchOptions {
  std::string url = "http://127.0.0.1:8080";  // server
  std::string label = "run";                  // phase label (baseline, kv-fp8, ...)
  std::string out = "results";                // results root: OUT/LABEL/SCENARIO-TIME/
  uint64_t seed = 42;                         // prompt sets
  int warmup = 1;                             // unrecorded requests first (default 1)
  int concurrency = 0;                        // 0 = the scenario's default
  int requests = 0;                           // 0 = the scenario's default
  int max_tokens = 64;                        // generated tokens per request (default 64)
  double temperature = 0;                     // --temperature: sampling temperature of the requests (0 = greedy)
  bool stream = true;                         // --stream / --no-stream
  std::string endpoint = "completions";       // or "chat"
  std::string prompts;                        // prompt kind; "" = the scenario's default
  std::string api_key, admin_key;             // Bearer keys ("" = none; admin falls back to api)
  double timeout_s = 600;                     // per request
  std::vector<int> levels;                    // concurrent: levels (default {concurrency})
  std::vector<int> batch_sizes;               // batch: k values (default 1..8)
  double rate = 5;                            // load: requests per second
  double duration_s = 60;                     // load: seconds
  double window_s = 10;                       // load: timeline window
  int spike = 0;                              // stress: burst size (0 = 64)
  // KV-tier scenarios (sessions, eviction-replay, rehydrate-replay, local-copilot-burst):
  int turns = 8;                              // sessions: turns per conversation (default 8)
  int turn_tokens = 300;                      // sessions: new user tokens per turn (default 300)
  int prompt_tokens = 0;                      // replay prompts / copilot file prefix, tokens (0 = scenario default)
  long evict_tokens = 0;                      // other traffic's prompt tokens per eviction (0 = the pool's capacity, -1 = none)
  std::string restart_cmd;                    // rehydrate-replay: shell command that restarts the server at --url
  double restart_timeout_s = 600;             // rehydrate-replay: wait for /health after the restart command
  bool progress = true;                       // progress bar on stderr
  std::vector<std::string> argv;              // command line, for config.json
  nlohmann::json to_json() const;
  const std::string& admin_bearer() const { return admin_key.empty() ? api_key : admin_key; }
};

struct ScenarioInfo {
  std::string name;
  std::string summary;        // one line for --help
  std::string needs_feature;  // non-empty: registered, but prints "needs feature" and exits 4
  std::function<int(const BenchOptions&)> run;
};
const std::vector<ScenarioInfo>& scenario_registry();
const ScenarioInfo* find_scenario(const std::string& name);
// Runs a registered scenario by name (the "needs feature" message for pending ones).
int run_scenario(const std::string& name, const BenchOptions& opt);

class ScenarioRun {
 public:
  // Connects, snapshots /admin/status and /metrics, creates the result directory and
  // writes config.json (with `extra_config` merged in).
  static Result<std::unique_ptr<ScenarioRun>> open(const BenchOptions& opt, const std::string& scenario,
                                                   const nlohmann::json& extra_config = nlohmann::json::object());
  const BenchOptions& options() const { return opt_; }
  HttpClient& admin() { return *admin_; }   // this thread's client (admin and probes)
  const nlohmann::json& status_before() const { return status_before_; }
  Clock::time_point start() const { return start_; }
  const std::string& result_path() const;  // the run's result directory
  // n_ctx from /admin/status (0 when unknown).
  int n_ctx() const;
  // Server tokens per word of generated text (probe with max_tokens 1); 1.3 on failure.
  double tokens_per_word();
  // Sends opt.warmup requests of `params` with prompts nobody else uses; not recorded.
  void warmup(const GenParams& params);
  // Runs one case; records are kept (case wall time too) and returned.
  std::vector<RequestRecord> run(const std::string& case_name, const std::vector<RequestSpec>& specs,
                                 int concurrency, bool open_loop = false);
  // Adds records made elsewhere (they count in the summary).
  void add_records(const std::string& case_name, std::vector<RequestRecord> recs, double wall_s);
  // A named expectation; a failed one makes finish() return 1.
  void check(const std::string& name, bool ok, const std::string& detail = "");
  // Scenario-specific data under summary["scenario_data"][key].
  void set_data(const std::string& key, nlohmann::json value);
  // Set when failed/invalid requests are expected (stress): they then fail no check.
  void expect_failures(bool yes) { expect_failures_ = yes; }
  // /metrics after, deltas, summary.json, requests.jsonl; prints a short summary;
  // returns the exit code.
  int finish();
  GenParams default_params() const;

  // Phases (scenario-phases.cpp), for the KV-tier scenarios: begin_phase() snapshots
  // /metrics and the rank processes' /proc/<pid>/io; end_phase() snapshots again and
  // keeps {"name", "wall_s", "requests", "ttft_s", "e2e_s", "cached_fraction", plus
  // phase_delta()'s "metrics", "disk_io", "disk_io_total"} and `extra`'s fields for
  // summary["phases"] (and the report); it returns that record. One phase at a time.
  void begin_phase(const std::string& name);
  nlohmann::json end_phase(const nlohmann::json& extra = nlohmann::json::object());
  const nlohmann::json& phases() const { return phases_; }
  // After the scenario restarted the server: /admin/status and /metrics are read again
  // (new pids; counters start again at 0), so metrics_delta.json covers the time since.
  Status server_restarted();

 private:
  ScenarioRun() = default;
  BenchOptions opt_;
  std::string scenario_;
  std::unique_ptr<HttpClient> admin_;
  std::unique_ptr<ResultDir> dir_;
  nlohmann::json status_before_, data_ = nlohmann::json::object(), checks_ = nlohmann::json::array();
  std::string metrics_before_;
  Clock::time_point start_;
  std::vector<RequestRecord> records_;
  struct CaseInfo {
    std::string name;
    double wall_s = 0;    // summed over the case's batches
    int concurrency = 0;  // largest used
  };
  std::vector<CaseInfo> cases_;  // in the order first run
  CaseInfo& case_info(const std::string& name);
  bool expect_failures_ = false;
  double tokens_per_word_ = 0;
  size_t warmups_done_ = 0;
  nlohmann::json phases_ = nlohmann::json::array();
  std::string phase_name_;  // "" = no phase open
  size_t phase_first_record_ = 0;
  Clock::time_point phase_start_;
  PhaseSnapshot phase_before_;
  nlohmann::json restarts_ = nlohmann::json::array();
  void print_phases() const;
};

}  // namespace shardlm::bench
