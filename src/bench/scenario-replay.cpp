// eviction-replay and rehydrate-replay: a set of prompts is sent (populate), pushed out
// of the memory tier by other traffic (thrash), and sent again (replay) — in
// rehydrate-replay after the server was restarted by `--restart-cmd`. Blocks reach the
// disk tier when they are evicted (the server does not write its memory tier at
// shutdown), so rehydrate-replay thrashes before the restart too (`--evict-tokens -1`
// skips it). Phases: populate, thrash, [restart,] replay, each with the tier counters
// and the ranks' disk I/O. The prompts: `--requests` (default 4) of `--prompt-tokens`
// tokens each (default: the long set, 500-1000), sequential, streamed.
// scenario_data.<scenario>: median TTFT of populate and replay and their ratio, the
// replay's cached fraction, restored blocks and disk hits (cpu_disk), recomputed tokens
// (prompt - cached). Checks: under cpu_disk the replay restored blocks from disk and the
// run wrote block files; rehydrate: the server came back with other rank processes.
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "scenarios.h"
#include "shardlm/bench/server-api.h"
#include "shardlm/bench/stats.h"

namespace shardlm::bench {

namespace {

struct ReplaySet {
  std::vector<RequestSpec> specs;
  int prompt_tokens = 0;  // each prompt's target (the thrash prompts' size too)
};

ReplaySet make_set(ScenarioRun& run, const std::string& scenario) {
  const BenchOptions& opt = run.options();
  const int n = opt.requests > 0 ? opt.requests : 4;
  PromptSetConfig pc = prompt_config(run, scenario + "/populate", PromptKind::long_, n);
  if (opt.prompt_tokens > 0) {
    pc.kind = PromptKind::long_;
    pc.long_min = pc.long_max = fit_prompt_tokens(run, opt.prompt_tokens);
  }
  ReplaySet s;
  s.specs = specs_for(run, "populate", make_prompt_set(pc));
  s.prompt_tokens = pc.kind == PromptKind::long_ ? pc.long_max : pc.short_max;
  return s;
}

double median_ttft(const std::vector<RequestRecord>& rs) {
  std::vector<double> v;
  for (const auto& r : rs)
    if (auto t = r.ttft_s()) v.push_back(*t);
  return v.empty() ? 0.0 : percentile(v, 50);
}

std::vector<RequestRecord> replay(ScenarioRun& run, const ReplaySet& set) {
  std::vector<RequestSpec> specs = set.specs;
  for (auto& s : specs) s.case_name = "replay";
  run.begin_phase("replay");
  auto recs = run.run("replay", specs, 1);
  (void)run.end_phase();
  return recs;
}

void thrash_phase(ScenarioRun& run, const std::string& name, long tokens, int prompt_tokens) {
  run.begin_phase(name);
  const TrafficTotals t = thrash(run, name, tokens, prompt_tokens);
  (void)run.end_phase({{"traffic", t.to_json()}});
  run.check(name + ": the eviction traffic was answered", t.failed == 0 && t.prompt_tokens >= tokens,
            fmt::format("{} requests, {} prompt tokens of {}, {} failed{}", t.requests, t.prompt_tokens, tokens, t.failed,
                        t.first_error.empty() ? "" : ": " + t.first_error));
}

// Runs opt.restart_cmd (output in the result directory's restart.log) and waits for /health.
Status restart_server(ScenarioRun& run, const std::string& log) {
  const BenchOptions& opt = run.options();
  std::fprintf(stderr, "shardlm-bench: rehydrate-replay: restarting the server: %s\n", opt.restart_cmd.c_str());
  const std::string cmd = "(" + opt.restart_cmd + ") > '" + log + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) return Status::errorf("--restart-cmd exited with status {}; see {}", rc, log);
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.restart_timeout_s));
  for (;;) {
    HttpClient probe(HttpClientConfig{run.admin().config().url, 5.0});
    auto h = probe.request("GET", "/health");
    if (h && h->status == 200) return Status::ok();
    if (Clock::now() > deadline)
      return Status::errorf("the server at {} was not healthy {} s after the restart command", opt.url, opt.restart_timeout_s);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

nlohmann::json replay_data(ScenarioRun& run, const std::vector<RequestRecord>& pop, const std::vector<RequestRecord>& rep) {
  const nlohmann::json& phases = run.phases();
  const nlohmann::json& last = phases.back();  // the replay
  const double a = median_ttft(pop), b = median_ttft(rep);
  long prompt = 0, cached = 0;
  for (const auto& r : rep) {
    prompt += std::max(0, r.prompt_tokens);
    cached += std::max(0, r.cached_tokens);
  }
  double written = 0, offloaded = 0;
  for (const auto& p : phases) {
    written += p["disk_io_total"].value("write_bytes", 0.0);
    offloaded += phase_metric(p, "offloaded_bytes");
  }
  return {{"prompts", pop.size()},
          {"kv_tier", kv_tier_of(run.status_before())},
          {"populate_ttft_median_s", a},
          {"replay_ttft_median_s", b},
          {"replay_speedup", b > 0 ? a / b : 0.0},
          {"replay_cached_fraction", prompt > 0 ? static_cast<double>(cached) / static_cast<double>(prompt) : 0.0},
          {"replay_recomputed_tokens", prompt - cached},
          {"replay_restored_blocks", phase_metric(last, "restored_blocks")},
          {"replay_disk_hits", phase_metric(last, "disk_hits")},
          {"replay_prefix_hit_tokens", phase_metric(last, "prefix_hit_tokens")},
          {"offloaded_bytes", offloaded},
          {"rank_write_bytes", written}};
}

void tier_checks(ScenarioRun& run, const nlohmann::json& d) {
  if (d["kv_tier"] != "cpu_disk") return;
  run.check("cpu_disk: block files were written (offloaded bytes > 0)", d["offloaded_bytes"].get<double>() > 0,
            fmt::format("{} bytes offloaded; the ranks wrote {} bytes", d["offloaded_bytes"].get<double>(),
                        d["rank_write_bytes"].get<double>()));
  run.check("cpu_disk: the replay read blocks back from disk", d["replay_restored_blocks"].get<double>() > 0,
            fmt::format("{} blocks restored, {} disk hits", d["replay_restored_blocks"].get<double>(), d["replay_disk_hits"].get<double>()));
}

void print_line(const std::string& name, const nlohmann::json& d) {
  std::printf("%s (%s): TTFT populate %.4f s, replay %.4f s (%.2fx); replay cached %.0f%%, %.0f blocks restored, %.0f tokens "
              "recomputed\n",
              name.c_str(), d["kv_tier"].get<std::string>().c_str(), d["populate_ttft_median_s"].get<double>(),
              d["replay_ttft_median_s"].get<double>(), d["replay_speedup"].get<double>(),
              100.0 * d["replay_cached_fraction"].get<double>(), d["replay_restored_blocks"].get<double>(),
              d["replay_recomputed_tokens"].get<double>());
}

ScenarioRun* open_run(const BenchOptions& opt, const std::string& name, std::unique_ptr<ScenarioRun>& holder) {
  auto r = ScenarioRun::open(opt, name);
  if (!r) {
    std::fprintf(stderr, "shardlm-bench: %s\n", r.message().c_str());
    return nullptr;
  }
  holder = std::move(r.value());
  return holder.get();
}

}  // namespace

int scenario_eviction_replay(const BenchOptions& opt) {
  std::unique_ptr<ScenarioRun> holder;
  ScenarioRun* run = open_run(opt, "eviction-replay", holder);
  if (!run) return kExitError;
  const ReplaySet set = make_set(*run, "eviction-replay");
  run->warmup(run->default_params());
  run->begin_phase("populate");
  auto pop = run->run("populate", set.specs, 1);
  (void)run->end_phase();
  const long budget = evict_budget(opt, run->status_before(), set.prompt_tokens);
  if (budget > 0) thrash_phase(*run, "thrash", budget, set.prompt_tokens);
  auto rep = replay(*run, set);
  nlohmann::json d = replay_data(*run, pop, rep);
  d["evict_tokens"] = budget;
  tier_checks(*run, d);
  run->set_data("eviction-replay", d);
  print_line("eviction-replay", d);
  return run->finish();
}

int scenario_rehydrate_replay(const BenchOptions& opt) {
  if (opt.restart_cmd.empty()) {
    std::fprintf(stderr,
                 "shardlm-bench: rehydrate-replay needs --restart-cmd: a shell command that stops the server and starts it "
                 "again at %s with the same --kv-disk-dir, e.g. --restart-cmd 'RUN_DIR=run launch/stop_server.sh && "
                 "RUN_DIR=run launch/launch_ssd.sh'\n",
                 opt.url.c_str());
    return kExitError;
  }
  std::unique_ptr<ScenarioRun> holder;
  ScenarioRun* run = open_run(opt, "rehydrate-replay", holder);
  if (!run) return kExitError;
  const ReplaySet set = make_set(*run, "rehydrate-replay");
  run->warmup(run->default_params());
  run->begin_phase("populate");
  auto pop = run->run("populate", set.specs, 1);
  (void)run->end_phase();
  const long budget = evict_budget(opt, run->status_before(), set.prompt_tokens);
  if (budget > 0) thrash_phase(*run, "thrash", budget, set.prompt_tokens);
  const auto ranks_before = rank_processes(run->status_before());
  const auto t0 = Clock::now();
  Status st = restart_server(*run, run->result_path() + "/restart.log");
  const double restart_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (st) st = run->server_restarted();
  run->check("the server restarted and became healthy", st.is_ok(), st.message());
  if (!st) return run->finish();
  const auto ranks_after = rank_processes(run->status_before());
  bool other = !ranks_after.empty() && ranks_after.size() == ranks_before.size();
  for (size_t i = 0; other && i < ranks_after.size(); ++i) other = ranks_after[i].pid != ranks_before[i].pid || ranks_after[i].pid == 0;
  run->check("other rank processes after the restart", other, "the rank pids in /admin/status changed");
  auto rep = replay(*run, set);
  nlohmann::json d = replay_data(*run, pop, rep);
  d["evict_tokens"] = budget;
  d["restart_s"] = restart_s;
  d["disk_index_blocks_after_restart"] = run->status_before().contains("kv_tiers") && run->status_before()["kv_tiers"].is_object() &&
                                                 run->status_before()["kv_tiers"].contains("disk") &&
                                                 run->status_before()["kv_tiers"]["disk"].is_object()
                                             ? run->status_before()["kv_tiers"]["disk"].value("index_blocks", 0.0)
                                             : 0.0;
  tier_checks(*run, d);
  run->set_data("rehydrate-replay", d);
  print_line("rehydrate-replay", d);
  return run->finish();
}

}  // namespace shardlm::bench
