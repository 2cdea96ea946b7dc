// Other traffic for the KV-tier scenarios: distinct prompts that push a conversation's
// or a replay set's blocks out of the memory tier (thrash), and the pool facts that
// size it.
#include <algorithm>
#include <cstdio>

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

}  // namespace shardlm::bench
