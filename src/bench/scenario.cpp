#include "shardlm/bench/scenario.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "scenarios.h"
#include "shardlm/bench/progress.h"
#include "shardlm/bench/prom-text.h"
#include "shardlm/bench/run-summary.h"
#include "shardlm/bench/server-api.h"

namespace shardlm::bench {

namespace {

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int scenario_pending(const std::string& name, const std::string& feature) {
  std::fprintf(stderr,
               "shardlm-bench: scenario '%s' needs feature: %s. It is registered and will run once the server has it "
               "(exit code %d).\n",
               name.c_str(), feature.c_str(), kExitNeedsFeature);
  return kExitNeedsFeature;
}

}  // namespace

nlohmann::json BenchOptions::to_json() const {
  return {{"url", url},
          {"label", label},
          {"out", out},
          {"seed", seed},
          {"warmup", warmup},
          {"concurrency", concurrency},
          {"requests", requests},
          {"max_tokens", max_tokens},
          {"stream", stream},
          {"endpoint", endpoint},
          {"prompts", prompts},
          {"api_key_set", !api_key.empty()},
          {"admin_key_set", !admin_key.empty()},
          {"timeout_s", timeout_s},
          {"levels", levels},
          {"batch_sizes", batch_sizes},
          {"rate", rate},
          {"duration_s", duration_s},
          {"window_s", window_s},
          {"spike", spike},
          {"turns", turns},
          {"turn_tokens", turn_tokens},
          {"prompt_tokens", prompt_tokens},
          {"evict_tokens", evict_tokens},
          {"restart_cmd", restart_cmd},
          {"restart_timeout_s", restart_timeout_s},
          {"argv", argv}};
}

const std::vector<ScenarioInfo>& scenario_registry() {
  static const std::vector<ScenarioInfo> reg = {
      {"single", "one request at a time (short prompts)", "", scenario_single},
      {"batch", "k = 1..8 parallel requests with 500-1000-token prompts", "", scenario_batch},
      {"concurrent", "N parallel streams (closed loop), TTFT / ITL percentiles", "", scenario_concurrent},
      {"cache", "cold vs identical vs shared-prefix requests (prefix cache)", "", scenario_cache},
      {"memory", "per-rank memory before/after load and after unload", "", scenario_memory},
      {"load", "sustained open-loop load at --rate for --duration, latency over time", "", scenario_load},
      {"stress", "spike past the queue (429), bad requests, then recovery", "", scenario_stress},
      {"ngram", "speculative decoding: repetitive / edit prompts and a random control (--spec-decode ngram)", "",
       scenario_ngram},
      {"reuse-verify", "identical requests: the same text as a recompute, with the response cache's signals and speedup", "",
       scenario_reuse_verify},
      {"sessions", "multi-turn conversations with and without session_id while other traffic evicts", "", scenario_sessions},
      {"eviction-replay", "populate, thrash past the memory tier, replay the first set (disk restores or recomputes)", "",
       scenario_eviction_replay},
      {"rehydrate-replay", "populate, evict, restart the server (--restart-cmd), replay from the disk tier", "",
       scenario_rehydrate_replay},
      {"local-copilot-burst", "bursts of concurrent edits near the end of one long code file (prefix-cache hits)", "",
       scenario_copilot_burst},
  };
  return reg;
}

const ScenarioInfo* find_scenario(const std::string& name) {
  for (const auto& s : scenario_registry())
    if (s.name == name) return &s;
  return nullptr;
}

int run_scenario(const std::string& name, const BenchOptions& opt) {
  const ScenarioInfo* s = find_scenario(name);
  if (!s) {
    std::fprintf(stderr, "shardlm-bench: unknown scenario '%s'\n", name.c_str());
    return kExitError;
  }
  if (!s->needs_feature.empty() || !s->run) return scenario_pending(s->name, s->needs_feature);
  return s->run(opt);
}

Result<std::unique_ptr<ScenarioRun>> ScenarioRun::open(const BenchOptions& opt, const std::string& scenario,
                                                       const nlohmann::json& extra_config) {
  auto url = parse_url(opt.url);
  if (!url) return url.status();
  std::unique_ptr<ScenarioRun> run(new ScenarioRun());
  run->opt_ = opt;
  run->scenario_ = scenario;
  run->admin_ = std::make_unique<HttpClient>(HttpClientConfig{url.value(), opt.timeout_s});
  auto health = run->admin_->request("GET", "/health");
  if (!health) return Status::errorf("server {} unreachable: {}", opt.url, health.message());
  if (health->status != 200) return Status::errorf("server {} not ready: /health answered {}: {}", opt.url, health->status, health->body);
  auto st = get_json(*run->admin_, "/admin/status", opt.admin_bearer());
  if (st) {
    run->status_before_ = st.value();
  } else {
    std::fprintf(stderr, "shardlm-bench: warning: %s\n", st.message().c_str());
    run->status_before_ = {{"error", st.message()}};
  }
  auto metrics = get_text(*run->admin_, "/metrics", "");
  if (metrics) run->metrics_before_ = metrics.value();
  auto dir = ResultDir::create(opt.out, opt.label, scenario);
  if (!dir) return dir.status();
  run->dir_ = std::make_unique<ResultDir>(dir.value());
  nlohmann::json models = nullptr;
  if (auto m = get_json(*run->admin_, "/v1/models", opt.api_key)) models = m.value();
  nlohmann::json cfg = {{"tool", "shardlm-bench"},
                        {"scenario", scenario},
                        {"label", opt.label},
                        {"run_id", run->dir_->run_id()},
                        {"started_at", utc_now_iso()},
                        {"options", opt.to_json()},
                        {"server", {{"url", opt.url}, {"status", run->status_before_}, {"models", models}}},
                        {"git_commit", git_commit()},
                        {"host", host_info()}};
  for (const auto& [k, v] : extra_config.items()) cfg[k] = v;
  SHARDLM_TRY(run->dir_->write_json("config.json", cfg));
  SHARDLM_TRY(run->dir_->write_text("metrics_before.txt", run->metrics_before_));
  std::fprintf(stderr, "shardlm-bench: %s (%s) → %s\n", scenario.c_str(), opt.label.c_str(), run->dir_->path().c_str());
  run->start_ = Clock::now();
  return run;
}

int ScenarioRun::n_ctx() const {
  if (status_before_.is_object() && status_before_.contains("n_ctx") && status_before_["n_ctx"].is_number())
    return status_before_["n_ctx"].get<int>();
  return 0;
}

GenParams ScenarioRun::default_params() const {
  GenParams p;
  p.endpoint = opt_.endpoint;
  p.max_tokens = opt_.max_tokens;
  p.stream = opt_.stream;
  p.temperature = opt_.temperature;
  if (p.temperature > 0) p.seed = static_cast<int64_t>(opt_.seed);  // reproducible draws
  return p;
}

double ScenarioRun::tokens_per_word() {
  if (tokens_per_word_ > 0) return tokens_per_word_;
  tokens_per_word_ = 1.3;
  const int words = 200;
  const std::string text = make_text(derive_seed(opt_.seed, "calibrate/" + scenario_), words);
  GenParams p;
  p.max_tokens = 1;
  p.stream = false;
  RequestRecord r = run_generation(*admin_, text, p, opt_.api_key, start_);
  if (r.ok && r.prompt_tokens > 1) {
    tokens_per_word_ = (r.prompt_tokens - 1) / static_cast<double>(words);  // minus BOS
  } else {
    std::fprintf(stderr, "shardlm-bench: warning: token probe failed (%s); assuming 1.3 tokens per word\n", r.error.c_str());
  }
  data_["tokens_per_word"] = tokens_per_word_;
  return tokens_per_word_;
}

void ScenarioRun::warmup(const GenParams& params) {
  if (opt_.warmup <= 0) return;
  PromptSetConfig pc;
  pc.kind = PromptKind::short_;
  pc.count = opt_.warmup;
  pc.seed = derive_seed(opt_.seed, fmt::format("warmup/{}/{}", scenario_, warmups_done_++));
  pc.tokens_per_word = tokens_per_word();
  std::vector<RequestSpec> specs;
  for (auto& p : make_prompt_set(pc)) specs.push_back({"warmup", p.text, params, 0});
  RunnerConfig rc{admin_->config(), opt_.api_key, 1, false, nullptr};
  Progress prog(opt_.label + " " + scenario_ + " warm-up", specs.size(), opt_.progress);
  rc.progress = &prog;
  auto recs = run_requests(specs, rc, start_);
  size_t failed = 0;
  for (const auto& r : recs) failed += r.ok ? 0 : 1;
  prog.finish();
  if (failed)
    std::fprintf(stderr, "shardlm-bench: warning: %zu of %zu warm-up requests failed: %s\n", failed, recs.size(),
                 recs.front().error.c_str());
}

ScenarioRun::CaseInfo& ScenarioRun::case_info(const std::string& name) {
  for (auto& c : cases_)
    if (c.name == name) return c;
  cases_.push_back({name, 0, 0});
  return cases_.back();
}

std::vector<RequestRecord> ScenarioRun::run(const std::string& case_name, const std::vector<RequestSpec>& specs,
                                            int concurrency, bool open_loop) {
  Progress prog(opt_.label + " " + scenario_ + " " + case_name, specs.size(), opt_.progress);
  RunnerConfig rc{admin_->config(), opt_.api_key, concurrency, open_loop, &prog};
  const auto t0 = Clock::now();
  // Open loop: due times are relative to the case's start.
  auto recs = run_requests(specs, rc, open_loop ? t0 : start_);
  const double wall = secs(Clock::now() - t0);
  prog.finish();
  if (open_loop) {
    const double off = secs(t0 - start_);
    for (auto& r : recs) {
      r.send_s += off;
      r.scheduled_s += off;
    }
  }
  add_records(case_name, recs, wall);
  case_info(case_name).concurrency = std::max(case_info(case_name).concurrency, concurrency);
  return recs;
}

void ScenarioRun::add_records(const std::string& case_name, std::vector<RequestRecord> recs, double wall_s) {
  CaseInfo& c = case_info(case_name);
  c.wall_s += wall_s;
  for (auto& r : recs) {
    r.index = records_.size();
    r.case_name = case_name;
    records_.push_back(std::move(r));
  }
}

void ScenarioRun::check(const std::string& name, bool ok, const std::string& detail) {
  checks_.push_back({{"name", name}, {"ok", ok}, {"detail", detail}});
  std::fprintf(stderr, "shardlm-bench: check %s: %s%s%s\n", ok ? "ok" : "FAILED", name.c_str(), detail.empty() ? "" : " — ",
               detail.c_str());
}

void ScenarioRun::set_data(const std::string& key, nlohmann::json value) { data_[key] = std::move(value); }

int ScenarioRun::finish() {
  if (!phase_name_.empty()) (void)end_phase();
  // /metrics after, and the difference (since the last restart, if there was one).
  std::string after;
  if (auto m = get_text(*admin_, "/metrics", "")) after = m.value();
  (void)dir_->write_text("metrics_after.txt", after);
  auto pb = parse_prom_text(metrics_before_);
  auto pa = parse_prom_text(after);
  if (pb && pa)
    (void)dir_->write_json("metrics_delta.json", prom_delta(pb.value(), pa.value()));
  else
    (void)dir_->write_json("metrics_delta.json", {{"error", pb ? pa.message() : pb.message()}});

  double wall = 0;
  for (const auto& c : cases_) wall += c.wall_s;
  nlohmann::json s = summarize_records(records_, wall);
  nlohmann::json cases = nlohmann::json::object();
  nlohmann::json order = nlohmann::json::array();
  for (const auto& c : cases_) {
    std::vector<RequestRecord> rs;
    for (const auto& r : records_)
      if (r.case_name == c.name) rs.push_back(r);
    nlohmann::json cs = summarize_records(rs, c.wall_s);
    cs["concurrency"] = c.concurrency;
    cases[c.name] = cs;
    order.push_back(c.name);
  }
  if (!expect_failures_ && !records_.empty()) {
    const size_t n = s["requests"], ok = s["succeeded"], valid = s["valid_requests"];
    std::string first_error;
    for (const auto& r : records_)
      if (!r.ok) {
        first_error = r.error;
        break;
      }
    check("every request succeeded", ok == n, fmt::format("{} of {}{}", ok, n, first_error.empty() ? "" : "; first error: " + first_error));
    std::string reasons;
    for (const auto& [k, v] : s["invalid_reasons"].items()) reasons += fmt::format("{}{} × {}", reasons.empty() ? "" : "; ", v.get<size_t>(), k);
    check("every result has the five metrics", valid == ok && valid > 0,
          valid == ok && valid > 0 ? "" : fmt::format("{} of {} valid: {}", valid, ok, reasons.empty() ? "no valid request" : reasons));
    const auto probs = summary_problems(s);
    if (valid > 0) {
      std::string d;
      for (const auto& p : probs) d += (d.empty() ? "" : "; ") + p;
      check("summary complete (five metrics > 0, p50 <= p95 <= p99)", probs.empty(), d);
    }
  }
  bool all_ok = true;
  for (const auto& c : checks_) all_ok = all_ok && c["ok"].get<bool>();
  nlohmann::json out = {{"scenario", scenario_}, {"label", opt_.label}, {"run_id", dir_->run_id()}, {"finished_at", utc_now_iso()}};
  for (const auto& [k, v] : s.items()) out[k] = v;
  out["cases"] = cases;
  out["case_order"] = order;
  out["checks"] = checks_;
  out["valid"] = all_ok;
  out["scenario_data"] = data_;
  if (!phases_.empty()) out["phases"] = phases_;
  std::vector<nlohmann::json> lines;
  for (const auto& r : records_) lines.push_back(record_to_json(r));
  Status w1 = dir_->write_jsonl("requests.jsonl", lines);
  Status w2 = dir_->write_json("summary.json", out);
  if (!w1 || !w2) {
    std::fprintf(stderr, "shardlm-bench: %s\n", (!w1 ? w1 : w2).message().c_str());
    return kExitError;
  }
  // A short table on stdout.
  std::printf("%s / %s (%s)\n", opt_.label.c_str(), scenario_.c_str(), dir_->path().c_str());
  std::printf("%-16s %5s %7s %9s %9s %9s %11s %11s %11s\n", "case", "n", "ok%", "ttft p50", "ttft p95", "itl p50",
              "prefill t/s", "decode t/s", "agg tok/s");
  auto num = [](const nlohmann::json& j, const char* a, const char* b) {
    return j.contains(a) && j[a].is_object() && j[a].contains(b) ? j[a][b].get<double>() : NAN;
  };
  for (const auto& name : order) {
    const auto& c = cases[name.get<std::string>()];
    std::printf("%-16s %5zu %6.1f%% %9.4f %9.4f %9.5f %11.1f %11.1f %11.1f\n", name.get<std::string>().c_str(),
                c["requests"].get<size_t>(), 100.0 * c["success_rate"].get<double>(), num(c, "ttft_s", "p50"),
                num(c, "ttft_s", "p95"), num(c, "itl_s", "p50"), num(c["metrics"], "prefill_tok_s", "mean"),
                num(c["metrics"], "decode_tok_s", "mean"), c["aggregate_throughput_tok_s"].get<double>());
  }
  print_phases();
  std::fflush(stdout);
  return all_ok ? kExitOk : kExitCheckFailed;
}

PromptSetConfig prompt_config(ScenarioRun& run, const std::string& scenario_case, PromptKind default_kind, int count) {
  const BenchOptions& opt = run.options();
  PromptSetConfig pc;
  pc.kind = default_kind;
  if (!opt.prompts.empty()) {
    if (auto k = parse_prompt_kind(opt.prompts)) pc.kind = k.value();
  }
  pc.count = count;
  pc.seed = derive_seed(opt.seed, scenario_case);
  pc.tokens_per_word = run.tokens_per_word();
  // Prompt + max_tokens must fit the context; the word estimate may be ~10% off.
  const int n_ctx = run.n_ctx();
  if (n_ctx > 0) {
    const int cap = std::max(8, static_cast<int>((n_ctx - opt.max_tokens) * 0.85) - 8);
    auto fit = [&](int& lo, int& hi) {
      if (hi <= cap) return false;
      hi = cap;
      lo = std::min(lo, std::max(1, cap / 2));
      return true;
    };
    bool capped = fit(pc.long_min, pc.long_max);
    capped = fit(pc.short_min, pc.short_max) || capped;
    if (pc.prefix_tokens + pc.short_max > cap) {
      pc.prefix_tokens = std::max(1, cap - pc.short_max);
      capped = true;
    }
    if (capped)
      std::fprintf(stderr, "shardlm-bench: prompts capped at ~%d tokens to fit n_ctx %d with max_tokens %d\n", cap, n_ctx,
                   opt.max_tokens);
  }
  return pc;
}

std::vector<RequestSpec> specs_for(const ScenarioRun& run, const std::string& case_name, const std::vector<Prompt>& prompts) {
  std::vector<RequestSpec> v;
  for (const auto& p : prompts) v.push_back({case_name, p.text, run.default_params(), 0});
  return v;
}

}  // namespace shardlm::bench
