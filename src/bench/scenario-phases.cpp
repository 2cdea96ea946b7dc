// ScenarioRun's phases: tier counters and rank disk I/O per phase of a KV-tier scenario
// (see scenario.h), the server restart of rehydrate-replay, and the phase table printed
// after the run.
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "shardlm/bench/scenario.h"
#include "shardlm/bench/server-api.h"
#include "shardlm/bench/stats.h"

namespace shardlm::bench {

namespace {

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

const std::string& ScenarioRun::result_path() const { return dir_->path(); }

void ScenarioRun::begin_phase(const std::string& name) {
  if (!phase_name_.empty()) (void)end_phase();
  phase_name_ = name;
  phase_first_record_ = records_.size();
  phase_before_ = take_snapshot(*admin_, rank_processes(status_before_));
  phase_start_ = Clock::now();
}

nlohmann::json ScenarioRun::end_phase(const nlohmann::json& extra) {
  if (phase_name_.empty()) return nullptr;
  const double wall = secs(Clock::now() - phase_start_);
  PhaseSnapshot after = take_snapshot(*admin_, rank_processes(status_before_));
  nlohmann::json p = phase_delta(phase_before_, after);
  std::vector<double> ttft, e2e;
  long prompt = 0, cached = 0;
  size_t n = 0, ok = 0;
  for (size_t i = phase_first_record_; i < records_.size(); ++i) {
    const RequestRecord& r = records_[i];
    ++n;
    if (!r.ok) continue;
    ++ok;
    if (auto t = r.ttft_s()) ttft.push_back(*t);
    e2e.push_back(r.total_s);
    prompt += std::max(0, r.prompt_tokens);
    cached += std::max(0, r.cached_tokens);
  }
  p["name"] = phase_name_;
  p["wall_s"] = wall;
  p["requests"] = n;
  p["succeeded"] = ok;
  p["ttft_s"] = summary_to_json(summarize(ttft));
  p["e2e_s"] = summary_to_json(summarize(e2e));
  p["prompt_tokens"] = prompt;
  p["cached_tokens"] = cached;
  p["cached_fraction"] = prompt > 0 ? static_cast<double>(cached) / static_cast<double>(prompt) : 0.0;
  for (const auto& [k, v] : extra.items()) p[k] = v;
  phases_.push_back(p);
  phase_name_.clear();
  return p;
}

Status ScenarioRun::server_restarted() {
  if (!phase_name_.empty()) (void)end_phase();
  auto st = get_json(*admin_, "/admin/status", opt_.admin_bearer());
  if (!st) return st.status().with_context("after the restart");
  auto metrics = get_text(*admin_, "/metrics", "");
  if (!metrics) return metrics.status().with_context("after the restart");
  restarts_.push_back({{"at_s", secs(Clock::now() - start_)},
                       {"ranks_before", status_before_.value("ranks", nlohmann::json::array())},
                       {"ranks_after", st.value().value("ranks", nlohmann::json::array())}});
  status_before_ = st.value();
  metrics_before_ = metrics.value();
  (void)dir_->write_text(fmt::format("metrics_after_restart_{}.txt", restarts_.size()), metrics_before_);
  data_["restarts"] = restarts_;
  return Status::ok();
}

void ScenarioRun::print_phases() const {
  if (phases_.empty()) return;
  auto m = [](const nlohmann::json& p, const char* k) { return p["metrics"].value(k, 0.0); };
  auto mib = [](const nlohmann::json& p, const char* k) { return p["disk_io_total"].value(k, uint64_t{0}) / 1048576.0; };
  std::printf("%-18s %4s %9s %6s %9s %8s %8s %8s %8s %8s %9s %9s\n", "phase", "n", "ttft p50", "cached", "prefix hit",
              "offload", "restore", "disk hit", "session", "rc hit", "rd MiB", "wr MiB");
  for (const auto& p : phases_) {
    const double ttft = p["ttft_s"].value("n", 0) > 0 ? p["ttft_s"]["p50"].get<double>() : NAN;
    std::printf("%-18s %4zu %9.4f %5.0f%% %9.0f %8.0f %8.0f %8.0f %8.0f %8.0f %9.2f %9.2f\n",
                p["name"].get<std::string>().c_str(), p["requests"].get<size_t>(), ttft,
                100.0 * p["cached_fraction"].get<double>(), m(p, "prefix_hit_tokens"), m(p, "offloaded_blocks"),
                m(p, "restored_blocks"), m(p, "disk_hits"), m(p, "session_hits"), m(p, "response_cache_hits"),
                mib(p, "read_bytes"), mib(p, "write_bytes"));
  }
}

}  // namespace shardlm::bench
