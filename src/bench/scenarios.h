// Scenario entry points (private to the bench module); registered in scenario.cpp.
#pragma once
#include <string>
#include <vector>

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

// A prompt set for one case of a run: seed derived from (seed, scenario/case), words
// per token measured against the server, lengths capped to fit n_ctx - max_tokens.
PromptSetConfig prompt_config(ScenarioRun& run, const std::string& scenario_case, PromptKind default_kind, int count);
// Specs for prompts with the run's default parameters.
std::vector<RequestSpec> specs_for(const ScenarioRun& run, const std::string& case_name, const std::vector<Prompt>& prompts);

}  // namespace shardlm::bench
