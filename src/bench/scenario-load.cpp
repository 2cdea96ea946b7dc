// load: open-loop arrivals at --rate per second for --duration seconds (exponential
// gaps from the seed: a Poisson process; --requests caps the count), mixed prompts,
// at most --concurrency in flight (default 64; past it requests start late and the
// records keep both the due and the send time). scenario_data.timeline has, per
// --window-s window of due times: requests, successes, TTFT p50/p95, end-to-end p50,
// generated tokens per second and the mean lateness.
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "scenarios.h"
#include "shardlm/bench/stats.h"

namespace shardlm::bench {

int scenario_load(const BenchOptions& opt) {
  if (opt.rate <= 0 || opt.duration_s <= 0 || opt.window_s <= 0) {
    std::fprintf(stderr, "shardlm-bench: load needs --rate, --duration and --window-s > 0\n");
    return kExitError;
  }
  auto r = ScenarioRun::open(opt, "load");
  if (!r) {
    std::fprintf(stderr, "shardlm-bench: %s\n", r.message().c_str());
    return kExitError;
  }
  ScenarioRun& run = *r.value();
  std::vector<double> due;
  uint64_t st = derive_seed(opt.seed, "load/arrivals");
  for (double t = 0;;) {
    const double u = (static_cast<double>(splitmix64(st) >> 11) + 0.5) / 9007199254740992.0;  // (0, 1)
    t += -std::log(u) / opt.rate;
    if (t >= opt.duration_s) break;
    due.push_back(t);
    if (opt.requests > 0 && static_cast<int>(due.size()) >= opt.requests) break;
  }
  if (due.empty()) due.push_back(0);
  auto specs = specs_for(run, "load", make_prompt_set(prompt_config(run, "load", PromptKind::mixed, static_cast<int>(due.size()))));
  for (size_t i = 0; i < specs.size(); ++i) specs[i].at_s = due[i];
  run.warmup(run.default_params());
  const int workers = opt.concurrency > 0 ? opt.concurrency : 64;
  const auto recs = run.run("load", specs, workers, true);

  // Timeline by due time (relative to the first due request).
  const double origin = recs.empty() ? 0 : recs.front().scheduled_s - due.front();
  const int windows = std::max(1, static_cast<int>(std::ceil(opt.duration_s / opt.window_s)));
  nlohmann::json tl = nlohmann::json::array();
  std::printf("%-10s %6s %6s %10s %10s %10s %10s %10s\n", "window s", "n", "ok", "ttft p50", "ttft p95", "e2e p50", "gen tok/s",
              "late s");
  for (int w = 0; w < windows; ++w) {
    std::vector<double> ttft, e2e;
    size_t n = 0, ok = 0;
    long long tokens = 0;
    double late = 0;
    for (const auto& x : recs) {
      const double t = x.scheduled_s - origin;
      if (t < w * opt.window_s || t >= (w + 1) * opt.window_s) continue;
      ++n;
      late += x.send_s - x.scheduled_s;
      if (!x.ok) continue;
      ++ok;
      e2e.push_back(x.total_s);
      tokens += std::max(0, x.completion_tokens);
      if (x.prefill_time_s) ttft.push_back(*x.prefill_time_s);
    }
    const Summary a = summarize(ttft), b = summarize(e2e);
    const double mean_late = n ? late / static_cast<double>(n) : 0.0;
    tl.push_back({{"start_s", w * opt.window_s},
                  {"requests", n},
                  {"succeeded", ok},
                  {"ttft_p50_s", a.n ? a.p50 : NAN},
                  {"ttft_p95_s", a.n ? a.p95 : NAN},
                  {"e2e_p50_s", b.n ? b.p50 : NAN},
                  {"generated_tok_s", static_cast<double>(tokens) / opt.window_s},
                  {"mean_lateness_s", mean_late}});
    std::printf("%-10.0f %6zu %6zu %10.4f %10.4f %10.4f %10.1f %10.3f\n", w * opt.window_s, n, ok, a.n ? a.p50 : NAN,
                a.n ? a.p95 : NAN, b.n ? b.p50 : NAN, static_cast<double>(tokens) / opt.window_s, mean_late);
  }
  run.set_data("timeline", tl);
  run.set_data("arrivals", {{"rate", opt.rate}, {"duration_s", opt.duration_s}, {"requests", due.size()}, {"max_in_flight", workers}});
  return run.finish();
}

}  // namespace shardlm::bench
