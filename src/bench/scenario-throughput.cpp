// Throughput scenarios: single (one request at a time), batch (k parallel requests
// with long prompts, k = 1..8), concurrent (N closed-loop streams per level).
#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "scenarios.h"

namespace shardlm::bench {

namespace {

Result<std::unique_ptr<ScenarioRun>> open_run(const BenchOptions& opt, const std::string& name) {
  if (!opt.prompts.empty()) {
    if (auto k = parse_prompt_kind(opt.prompts); !k) return k.status();
  }
  return ScenarioRun::open(opt, name);
}

int fail_open(const Status& st) {
  std::fprintf(stderr, "shardlm-bench: %s\n", st.message().c_str());
  return kExitError;
}

}  // namespace

int scenario_single(const BenchOptions& opt) {
  auto r = open_run(opt, "single");
  if (!r) return fail_open(r.status());
  ScenarioRun& run = *r.value();
  const int n = opt.requests > 0 ? opt.requests : 10;
  const auto prompts = make_prompt_set(prompt_config(run, "single", PromptKind::short_, n));
  run.warmup(run.default_params());
  run.run("single", specs_for(run, "single", prompts), 1);
  return run.finish();
}

int scenario_batch(const BenchOptions& opt) {
  auto r = open_run(opt, "batch");
  if (!r) return fail_open(r.status());
  ScenarioRun& run = *r.value();
  std::vector<int> ks = opt.batch_sizes;
  if (ks.empty()) ks = {1, 2, 3, 4, 5, 6, 7, 8};
  const int rounds = opt.requests > 0 ? opt.requests : 1;
  run.set_data("batch_sizes", ks);
  run.set_data("rounds", rounds);
  run.warmup(run.default_params());
  for (int k : ks) {
    if (k < 1) continue;
    const std::string name = fmt::format("k={}", k);
    for (int round = 0; round < rounds; ++round) {
      const auto prompts = make_prompt_set(prompt_config(run, fmt::format("batch/{}/{}", name, round), PromptKind::long_, k));
      run.run(name, specs_for(run, name, prompts), k);  // all k start together
    }
  }
  return run.finish();
}

int scenario_concurrent(const BenchOptions& opt) {
  auto r = open_run(opt, "concurrent");
  if (!r) return fail_open(r.status());
  ScenarioRun& run = *r.value();
  std::vector<int> levels = opt.levels;
  if (levels.empty()) levels = {opt.concurrency > 0 ? opt.concurrency : 4};
  run.set_data("levels", levels);
  run.warmup(run.default_params());
  for (int c : levels) {
    if (c < 1) continue;
    const int n = opt.requests > 0 ? std::max(opt.requests, c) : 2 * c;
    const std::string name = fmt::format("c={}", c);
    const auto prompts = make_prompt_set(prompt_config(run, "concurrent/" + name, PromptKind::mixed, n));
    run.run(name, specs_for(run, name, prompts), c);
  }
  return run.finish();
}

}  // namespace shardlm::bench
