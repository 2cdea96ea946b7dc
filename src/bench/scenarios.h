// Scenario entry points (private to the bench module); registered in scenario.cpp.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shardlm/bench/prompt-set.h"
#include "shardlm/bench/scenario.h"

namespace shardlm::bench {

int scenario_single(const BenchOptions& opt);      // scenario-throughput.cpp
int scenario_batch(const BenchOptions& opt);       // scenario-throughput.cpp
int scenario_concurrent(const BenchOptions& opt);  // scenario-throughput.cpp
int scenario_cache(const BenchOptions& opt);       // scenario-cache.cpp
int scenario_memory(const BenchOptions& opt);      // scenario-ops.cpp
int scenario_stress(const BenchOptions& opt);      // scenario-ops.cpp
int scenario_load(const BenchOptions& opt);        // scenario-load.cpp
int scenario_ngram(const BenchOptions& opt);       // scenario-ngram.cpp
int scenario_reuse_verify(const BenchOptions& opt);  // scenario-reuse.cpp
int scenario_sessions(const BenchOptions& opt);        // scenario-sessions.cpp
int scenario_eviction_replay(const BenchOptions& opt);   // scenario-replay.cpp
int scenario_rehydrate_replay(const BenchOptions& opt);  // scenario-replay.cpp
int scenario_copilot_burst(const BenchOptions& opt);     // scenario-copilot.cpp

// --- KV-tier scenario helpers (tier-traffic.cpp) ---
// kv_cache.capacity_tokens of an /admin/status answer (0 when unknown).
long pool_capacity_tokens(const nlohmann::json& status);
// kv_tiers.tier ("off", "cpu", "cpu_disk"; "" when unknown).
std::string kv_tier_of(const nlohmann::json& status);
// Tokens other traffic must send to evict the memory tier: opt.evict_tokens, or the
// pool's capacity (plus one prompt) when 0; 0 when -1 (no eviction).
long evict_budget(const BenchOptions& opt, const nlohmann::json& status, int prompt_tokens);
// The largest prompt (tokens) that fits n_ctx with max_tokens, at most `want`
// (prompt_config's cap: 85% of n_ctx - max_tokens, less 8).
int fit_prompt_tokens(ScenarioRun& run, int want);
// One distinct prompt of about `tokens` tokens (never used by another case: `seed`).
std::string distinct_prompt(ScenarioRun& run, uint64_t seed, int tokens);

struct TrafficTotals {
  size_t requests = 0, failed = 0;
  long prompt_tokens = 0;  // usage.prompt_tokens of the answered ones
  std::string first_error;
  nlohmann::json to_json() const;
};
// Sends distinct prompts of about `prompt_tokens` tokens (max_tokens 1, not recorded)
// one after another until their prompt tokens reach `tokens`.
TrafficTotals thrash(ScenarioRun& run, const std::string& name, long tokens, int prompt_tokens);

// A code-like file (tier-traffic.cpp): deterministic source lines from `seed`, about
// `tokens` tokens with `tokens_per_char` (measured by the scenario).
std::vector<std::string> make_code_lines(uint64_t seed, int tokens, double tokens_per_char);

// A prompt set for one case of a run: seed derived from (seed, scenario/case), words
// per token measured against the server, lengths capped to fit n_ctx - max_tokens.
PromptSetConfig prompt_config(ScenarioRun& run, const std::string& scenario_case, PromptKind default_kind, int count);
// Specs for prompts with the run's default parameters.
std::vector<RequestSpec> specs_for(const ScenarioRun& run, const std::string& case_name, const std::vector<Prompt>& prompts);

}  // namespace shardlm::bench
