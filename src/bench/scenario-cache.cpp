// cache: how the prefix cache changes time to first token. Sequential requests (so
// the cache state is known at each one):
//   cold           distinct prompts nobody sent before (on this server, for this seed)
//   identical      one prompt sent once ("identical-first", cold) then `requests` times
//   shared-prefix  prompts with one common prefix: the first ("shared-prefix-first")
//                  fills the cache, the others reuse the prefix
// scenario_data gets, per case, the mean TTFT and the share of prompt tokens served
// from the cache (usage.prompt_tokens_details.cached_tokens).
#include <cstdio>

#include <fmt/format.h>

#include "scenarios.h"

namespace shardlm::bench {

namespace {

nlohmann::json cache_stats(const std::vector<RequestRecord>& rs) {
  double ttft = 0;
  long long prompt = 0, cached = 0;
  size_t n = 0;
  for (const auto& r : rs) {
    if (!r.valid) continue;
    ++n;
    ttft += *r.prefill_time_s;
    prompt += r.prompt_tokens;
    cached += std::max(0, r.cached_tokens);
  }
  return {{"requests", n},
          {"ttft_mean_s", n ? ttft / static_cast<double>(n) : 0.0},
          {"prompt_tokens", prompt},
          {"cached_tokens", cached},
          {"cached_fraction", prompt ? static_cast<double>(cached) / static_cast<double>(prompt) : 0.0}};
}

}  // namespace

int scenario_cache(const BenchOptions& opt) {
  auto r = ScenarioRun::open(opt, "cache");
  if (!r) {
    std::fprintf(stderr, "shardlm-bench: %s\n", r.message().c_str());
    return kExitError;
  }
  ScenarioRun& run = *r.value();
  const int n = opt.requests > 0 ? opt.requests : 4;
  run.warmup(run.default_params());
  nlohmann::json stats;

  const auto cold = make_prompt_set(prompt_config(run, "cache/cold", PromptKind::long_, n));
  stats["cold"] = cache_stats(run.run("cold", specs_for(run, "cold", cold), 1));

  const auto one = make_prompt_set(prompt_config(run, "cache/identical", PromptKind::long_, 1));
  std::vector<Prompt> repeats(static_cast<size_t>(n), one.front());
  stats["identical-first"] = cache_stats(run.run("identical-first", specs_for(run, "identical-first", one), 1));
  stats["identical"] = cache_stats(run.run("identical", specs_for(run, "identical", repeats), 1));

  PromptSetConfig pc = prompt_config(run, "cache/shared-prefix", PromptKind::shared_prefix, n + 1);
  pc.kind = PromptKind::shared_prefix;
  // A prefix of most of a long prompt, so the saving shows.
  pc.prefix_tokens = std::max(pc.prefix_tokens, std::min(pc.long_min, pc.long_max - pc.short_max));
  const auto shared = make_prompt_set(pc);
  stats["shared-prefix-first"] =
      cache_stats(run.run("shared-prefix-first", specs_for(run, "shared-prefix-first", {shared.front()}), 1));
  stats["shared-prefix"] = cache_stats(
      run.run("shared-prefix", specs_for(run, "shared-prefix", std::vector<Prompt>(shared.begin() + 1, shared.end())), 1));

  const double cold_ttft = stats["cold"]["ttft_mean_s"];
  for (const char* k : {"identical", "shared-prefix"}) {
    const double t = stats[k]["ttft_mean_s"];
    stats[k]["ttft_speedup_vs_cold"] = t > 0 ? cold_ttft / t : 0.0;
  }
  if (stats["cold"]["cached_tokens"].get<long long>() > 0)
    std::fprintf(stderr,
                 "shardlm-bench: note: 'cold' prompts found %lld tokens in the prefix cache (run cache on a fresh server "
                 "or with another --seed)\n",
                 stats["cold"]["cached_tokens"].get<long long>());
  run.set_data("cache", stats);
  std::printf("cache: cached fraction cold %.2f, identical %.2f, shared-prefix %.2f; TTFT speedup identical %.2fx, "
              "shared-prefix %.2fx\n",
              stats["cold"]["cached_fraction"].get<double>(), stats["identical"]["cached_fraction"].get<double>(),
              stats["shared-prefix"]["cached_fraction"].get<double>(), stats["identical"]["ttft_speedup_vs_cold"].get<double>(),
              stats["shared-prefix"]["ttft_speedup_vs_cold"].get<double>());
  return run.finish();
}

}  // namespace shardlm::bench
