// local-copilot-burst: an editor's completions on one file. The file is a code-like
// prefix of about `--prompt-tokens` tokens (default 1500, fitted to n_ctx); it is sent
// once as opened (phase "open": the cold prefill), then `--requests` bursts (default 6)
// of `--concurrency` requests (default 4) sent together (phase "bursts"). Burst b: the
// file with b new lines typed at its end, and request k of the burst has the line being
// typed cut after a different number of characters (edits near the end, as keystrokes
// make them). scenario_data.local-copilot-burst: TTFT and latency p50/p95/p99 over the
// bursts, the open request's TTFT, the median per-request cached fraction, and the
// prefix-cache hit fraction of the bursts (prefix_hit_tokens / prefix_query_tokens).
#include <cstdio>

#include <fmt/format.h>

#include "scenarios.h"
#include "shardlm/bench/server-api.h"
#include "shardlm/bench/stats.h"

namespace shardlm::bench {

namespace {

std::string join(const std::vector<std::string>& lines, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < lines.size(); ++i) s += lines[i] + "\n";
  return s;
}

// Server tokens per character of code text (a probe on a file nobody else sends).
double code_tokens_per_char(ScenarioRun& run) {
  const std::string probe = join(make_code_lines(derive_seed(run.options().seed, "copilot/calibrate"), 300, 0.3), 1u << 20);
  GenParams p;
  p.max_tokens = 1;
  p.stream = false;
  RequestRecord r = run_generation(run.admin(), probe, p, run.options().api_key, run.start());
  if (!r.ok || r.prompt_tokens <= 1) {
    std::fprintf(stderr, "shardlm-bench: warning: code token probe failed (%s); assuming 0.3 tokens per character\n", r.error.c_str());
    return 0.3;
  }
  return (r.prompt_tokens - 1) / static_cast<double>(probe.size());
}

nlohmann::json percentiles(const std::vector<double>& v) { return summary_to_json(summarize(v)); }

}  // namespace

int scenario_copilot_burst(const BenchOptions& opt) {
  auto r = ScenarioRun::open(opt, "local-copilot-burst");
  if (!r) {
    std::fprintf(stderr, "shardlm-bench: %s\n", r.message().c_str());
    return kExitError;
  }
  ScenarioRun& run = *r.value();
  const int bursts = opt.requests > 0 ? opt.requests : 6;
  const int per_burst = opt.concurrency > 0 ? opt.concurrency : 4;
  const double tpc = code_tokens_per_char(run);
  // Room for the typed lines (about 12 tokens each) after the prefix.
  const int prefix_tokens = fit_prompt_tokens(run, (opt.prompt_tokens > 0 ? opt.prompt_tokens : 1500) + 12 * (bursts + 1)) - 12 * (bursts + 1);
  const auto file = make_code_lines(derive_seed(opt.seed, "copilot/file"), std::max(16, prefix_tokens), tpc);
  const auto typed = make_code_lines(derive_seed(opt.seed, "copilot/typed"), 12 * (bursts + 2), tpc);
  const std::string prefix = join(file, file.size());
  run.warmup(run.default_params());

  run.begin_phase("open");
  auto open = run.run("open", {{"open", prefix, run.default_params(), 0}}, 1);
  (void)run.end_phase();

  run.begin_phase("bursts");
  std::vector<RequestRecord> all;
  for (int b = 0; b < bursts; ++b) {
    const std::string done = prefix + join(typed, static_cast<size_t>(b));
    const std::string& line = typed[static_cast<size_t>(b) % typed.size()];
    std::vector<RequestSpec> specs;
    for (int k = 0; k < per_burst; ++k) {
      const size_t cut = std::max<size_t>(1, line.size() * static_cast<size_t>(k + 1) / static_cast<size_t>(per_burst + 1));
      specs.push_back({"bursts", done + line.substr(0, cut), run.default_params(), 0});
    }
    auto recs = run.run("bursts", specs, per_burst);
    all.insert(all.end(), recs.begin(), recs.end());
  }
  const nlohmann::json phase = run.end_phase();

  std::vector<double> ttft, e2e, cached_frac;
  for (const auto& x : all) {
    if (!x.ok) continue;
    if (auto t = x.ttft_s()) ttft.push_back(*t);
    e2e.push_back(x.total_s);
    if (x.prompt_tokens > 0) cached_frac.push_back(std::max(0, x.cached_tokens) / static_cast<double>(x.prompt_tokens));
  }
  const double q = phase_metric(phase, "prefix_query_tokens"), h = phase_metric(phase, "prefix_hit_tokens");
  const double open_ttft = !open.empty() && open[0].ttft_s() ? *open[0].ttft_s() : 0.0;
  nlohmann::json d{{"bursts", bursts},
                   {"requests_per_burst", per_burst},
                   {"prefix_prompt_tokens", open.empty() ? -1 : open[0].prompt_tokens},
                   {"code_tokens_per_char", tpc},
                   {"open_ttft_s", open_ttft},
                   {"ttft_s", percentiles(ttft)},
                   {"latency_s", percentiles(e2e)},
                   {"cached_fraction_median", cached_frac.empty() ? 0.0 : percentile(cached_frac, 50)},
                   {"prefix_hit_fraction", q > 0 ? h / q : 0.0},
                   {"kv_tier", kv_tier_of(run.status_before())}};
  const double p50 = ttft.empty() ? 0.0 : percentile(ttft, 50);
  d["burst_ttft_speedup_vs_open"] = p50 > 0 ? open_ttft / p50 : 0.0;
  run.set_data("local-copilot-burst", d);
  std::printf("local-copilot-burst: %d bursts x %d, file %d tokens: TTFT open %.4f s, bursts p50 %.4f s p95 %.4f s; latency "
              "p50 %.4f s p95 %.4f s; cached %.0f%% (median), prefix hits %.0f%%\n",
              bursts, per_burst, d["prefix_prompt_tokens"].get<int>(), open_ttft, p50, ttft.empty() ? 0.0 : percentile(ttft, 95),
              e2e.empty() ? 0.0 : percentile(e2e, 50), e2e.empty() ? 0.0 : percentile(e2e, 95),
              100.0 * d["cached_fraction_median"].get<double>(), 100.0 * d["prefix_hit_fraction"].get<double>());
  return run.finish();
}

}  // namespace shardlm::bench
