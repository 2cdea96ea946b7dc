// ngram: speculative decoding on prompts whose continuation repeats them, against a
// control of ordinary prompts. Greedy requests (sampled with --temperature), one case after the other, each at
// --concurrency streams:
//   repetitive  a short phrase repeated (the model's continuation tends to repeat it)
//   edit        a text, then the instruction to write it again (an edit of a given text)
//   random      ordinary story prompts (the control: little to look up)
// Per case scenario_data gets the mean decode tok/s and the /v1/spec_decode/metrics
// deltas (drafts, draft tokens, accepted tokens, acceptance rate, mean accepted length).
// Run it on launch_ngram.sh and on launch_baseline.sh with the same --seed: the decode
// tok/s of the two runs side by side are the speedup.
#include <cstdio>

#include <fmt/format.h>

#include "scenarios.h"
#include "shardlm/bench/server-api.h"

namespace shardlm::bench {

namespace {

nlohmann::json spec_counters(ScenarioRun& run) {
  auto j = get_json(run.admin(), "/v1/spec_decode/metrics", run.options().api_key);
  return j ? j.value() : nlohmann::json::object();
}

long long counter(const nlohmann::json& j, const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<long long>() : 0; }

nlohmann::json case_stats(const std::vector<RequestRecord>& rs, const nlohmann::json& before, const nlohmann::json& after) {
  double decode = 0;
  size_t n = 0;
  for (const auto& r : rs)
    if (r.valid && r.decode_tok_s) {
      decode += *r.decode_tok_s;
      ++n;
    }
  const long long drafts = counter(after, "num_drafts") - counter(before, "num_drafts");
  const long long proposed = counter(after, "num_draft_tokens") - counter(before, "num_draft_tokens");
  const long long accepted = counter(after, "num_accepted_tokens") - counter(before, "num_accepted_tokens");
  return {{"requests", n},
          {"decode_tok_s_mean", n ? decode / static_cast<double>(n) : 0.0},
          {"spec_mode", after.value("mode", std::string("unknown"))},
          {"drafts", drafts},
          {"draft_tokens", proposed},
          {"accepted_tokens", accepted},
          {"acceptance_rate", proposed ? static_cast<double>(accepted) / static_cast<double>(proposed) : 0.0},
          {"mean_accepted_length", drafts ? 1.0 + static_cast<double>(accepted) / static_cast<double>(drafts) : 1.0}};
}

std::vector<Prompt> edit_prompts(ScenarioRun& run, int n) {
  auto base = make_prompt_set(prompt_config(run, "ngram/edit", PromptKind::short_, n));
  for (auto& p : base) p.text = p.text + "\nWrite the text above again, word for word:\n" + p.text;
  return base;
}

}  // namespace

int scenario_ngram(const BenchOptions& opt) {
  auto r = ScenarioRun::open(opt, "ngram");
  if (!r) {
    std::fprintf(stderr, "shardlm-bench: %s\n", r.message().c_str());
    return kExitError;
  }
  ScenarioRun& run = *r.value();
  const int n = opt.requests > 0 ? opt.requests : 4;
  const int conc = std::max(1, opt.concurrency);
  run.warmup(run.default_params());
  nlohmann::json stats;
  const std::vector<std::pair<std::string, std::vector<Prompt>>> cases = {
      {"repetitive", make_prompt_set(prompt_config(run, "ngram/repetitive", PromptKind::repetitive, n))},
      {"edit", edit_prompts(run, n)},
      {"random", make_prompt_set(prompt_config(run, "ngram/random", PromptKind::short_, n))},
  };
  for (const auto& [name, prompts] : cases) {
    const nlohmann::json before = spec_counters(run);
    auto recs = run.run(name, specs_for(run, name, prompts), conc);
    stats[name] = case_stats(recs, before, spec_counters(run));
    std::printf("ngram %s: decode %.1f tok/s, acceptance %.2f, mean accepted length %.2f (%s)\n", name.c_str(),
                stats[name]["decode_tok_s_mean"].get<double>(), stats[name]["acceptance_rate"].get<double>(),
                stats[name]["mean_accepted_length"].get<double>(), stats[name]["spec_mode"].get<std::string>().c_str());
  }
  run.set_data("ngram", stats);
  return run.finish();
}

}  // namespace shardlm::bench
