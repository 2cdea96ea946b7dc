// Other traffic for the KV-tier scenarios: distinct prompts that push a conversation's
// or a replay set's blocks out of the memory tier, sent in the foreground (thrash) or
// from a background thread (BackgroundTraffic); and the pool facts they size it by.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "scenarios.h"
#include "shardlm/bench/server-api.h"

namespace shardlm::bench {

long pool_capacity_tokens(const nlohmann::json& status) {
  if (!status.is_object() || !status.contains("kv_cache") || !status["kv_cache"].is_object()) return 0;
  const auto& k = status["kv_cache"];
  return k.contains("capacity_tokens") && k["capacity_tokens"].is_number() ? k["capacity_tokens"].get<long>() : 0;
}

std::string kv_tier_of(const nlohmann::json& status) {
  if (!status.is_object() || !status.contains("kv_tiers") || !status["kv_tiers"].is_object()) return "";
  return status["kv_tiers"].value("tier", "");
}

long evict_budget(const BenchOptions& opt, const nlohmann::json& status, int prompt_tokens) {
  if (opt.evict_tokens < 0) return 0;
  if (opt.evict_tokens > 0) return opt.evict_tokens;
  const long cap = pool_capacity_tokens(status);
  return cap > 0 ? cap + prompt_tokens : 0;
}

int fit_prompt_tokens(ScenarioRun& run, int want) {
  const int n_ctx = run.n_ctx();
  if (n_ctx <= 0) return want;
  return std::max(8, std::min(want, static_cast<int>((n_ctx - run.options().max_tokens) * 0.85) - 8));
}

std::string distinct_prompt(ScenarioRun& run, uint64_t seed, int tokens) {
  const int words = std::max(1, static_cast<int>(tokens / run.tokens_per_word()));
  return make_text(seed, words);
}

nlohmann::json TrafficTotals::to_json() const {
  return {{"requests", requests}, {"failed", failed}, {"prompt_tokens", prompt_tokens}, {"first_error", first_error}};
}

namespace {

GenParams traffic_params() {
  GenParams p;
  p.max_tokens = 1;
  p.stream = false;
  return p;
}

void count(TrafficTotals& t, const RequestRecord& r) {
  ++t.requests;
  if (r.ok && r.prompt_tokens > 0) {
    t.prompt_tokens += r.prompt_tokens;
  } else {
    ++t.failed;
    if (t.first_error.empty()) t.first_error = r.ok ? "no usage.prompt_tokens" : r.error;
  }
}

}  // namespace

TrafficTotals thrash(ScenarioRun& run, const std::string& name, long tokens, int prompt_tokens) {
  TrafficTotals t;
  const uint64_t base = derive_seed(run.options().seed, "thrash/" + name);
  // A server that answers nothing must not keep this loop going: stop after
  // a few failures in a row.
  int failures_in_row = 0;
  for (uint64_t i = 0; t.prompt_tokens < tokens && failures_in_row < 3; ++i) {
    const std::string p = distinct_prompt(run, derive_seed(base, std::to_string(i)), prompt_tokens);
    RequestRecord r = run_generation(run.admin(), p, traffic_params(), run.options().api_key, run.start());
    count(t, r);
    failures_in_row = r.ok ? 0 : failures_in_row + 1;
  }
  if (t.failed)
    std::fprintf(stderr, "shardlm-bench: warning: %zu of %zu eviction requests failed: %s\n", t.failed, t.requests,
                 t.first_error.c_str());
  return t;
}

struct BackgroundTraffic::State {
  ScenarioRun* run;
  std::string name;
  int prompt_tokens;
  std::vector<std::string> prompts;  // made on the scenario's thread (tokens_per_word probes)
  std::thread thread;
  std::atomic<bool> stop{false};
  mutable std::mutex mu;
  std::condition_variable cv;
  TrafficTotals totals;  // guarded by mu
  bool running = false;  // guarded by mu
};

BackgroundTraffic::BackgroundTraffic(ScenarioRun& run, std::string name, int prompt_tokens) : st_(new State) {
  st_->run = &run;
  st_->name = std::move(name);
  st_->prompt_tokens = prompt_tokens;
}

BackgroundTraffic::~BackgroundTraffic() { (void)stop(); }

void BackgroundTraffic::start() {
  State& s = *st_;
  if (s.thread.joinable()) return;
  const uint64_t base = derive_seed(s.run->options().seed, "background/" + s.name);
  // Prompts are made here (tokens_per_word may probe the server on this thread); the
  // sender takes a new seed past the prepared ones so it never repeats a prompt.
  for (int i = 0; i < 64; ++i) s.prompts.push_back(distinct_prompt(*s.run, derive_seed(base, std::to_string(i)), s.prompt_tokens));
  const double tpw = s.run->tokens_per_word();
  s.stop = false;
  s.running = true;
  s.thread = std::thread([&s, base, tpw] {
    HttpClient client(s.run->admin().config());
    int failures_in_row = 0;
    for (uint64_t i = 0; !s.stop.load() && failures_in_row < 3; ++i) {
      const std::string p = i < s.prompts.size()
                                ? s.prompts[i]
                                : make_text(derive_seed(base, std::to_string(i)), std::max(1, static_cast<int>(s.prompt_tokens / tpw)));
      RequestRecord r = run_generation(client, p, traffic_params(), s.run->options().api_key, s.run->start());
      failures_in_row = r.ok ? 0 : failures_in_row + 1;
      std::lock_guard<std::mutex> lk(s.mu);
      count(s.totals, r);
      s.cv.notify_all();
    }
    std::lock_guard<std::mutex> lk(s.mu);
    s.running = false;
    s.cv.notify_all();
  });
}

bool BackgroundTraffic::wait_for(long tokens, double timeout_s) {
  State& s = *st_;
  std::unique_lock<std::mutex> lk(s.mu);
  const long target = s.totals.prompt_tokens + tokens;
  s.cv.wait_for(lk, std::chrono::duration<double>(timeout_s), [&] { return s.totals.prompt_tokens >= target || !s.running; });
  return s.totals.prompt_tokens >= target;
}

TrafficTotals BackgroundTraffic::stop() {
  State& s = *st_;
  s.stop = true;
  if (s.thread.joinable()) s.thread.join();
  return totals();
}

TrafficTotals BackgroundTraffic::totals() const {
  std::lock_guard<std::mutex> lk(st_->mu);
  return st_->totals;
}

}  // namespace shardlm::bench
