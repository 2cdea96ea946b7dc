// sessions: multi-turn conversations with and without session_id while other traffic
// evicts unpinned blocks (issue 14 §3's target).
// Two cases, one after the other, each `--requests` conversations (default 1) of
// `--turns` turns (default 8), turn by turn:
//   without-session  turn k's prompt = turn k-1's prompt + its answer + a new user
//                    message of about `--turn-tokens` tokens (default 300)
//   with-session     the same shape with other text, every turn with session_id
// Between two turns (the user's think time) another client sends distinct prompts
// (max_tokens 1) until they hold `--evict-tokens` prompt tokens (default: the pool's
// capacity plus one prompt), enough to push every unpinned block out of the memory
// tier. It does not overlap the turns, so a turn's latency (send → last byte) measures
// what the server reuses, not what it shares the steps with. Each case is a phase (tier
// counters, rank disk I/O; the other traffic included).
// scenario_data.sessions: per case the median turn latency over turns 2..N (the turns
// that can reuse) and over all turns, TTFT, cached fraction; `reduction` =
// 1 - with / without on the turns 2..N medians (target >= 0.6 on the 1.1B shape).
// The sessions are deleted afterwards (DELETE /admin/sessions/ID).
#include <cstdio>

#include <fmt/format.h>

#include "scenarios.h"
#include "shardlm/bench/server-api.h"
#include "shardlm/bench/stats.h"

namespace shardlm::bench {

namespace {

struct CaseResult {
  std::vector<double> later_s, all_s, ttft_later_s;  // turn latencies; later = turns 2..N
  long prompt = 0, cached = 0;                        // turns 2..N
  bool gates_met = true;
  TrafficTotals traffic;  // the other client's, between turns
  int last_prompt_tokens = 0;
};

double median(const std::vector<double>& v) { return v.empty() ? 0.0 : percentile(v, 50); }

// One conversation of opt.turns turns.
void conversation(ScenarioRun& run, const std::string& case_name, const std::string& session, int conv, int turn_tokens,
                  int traffic_tokens, long gate_tokens, CaseResult& out) {
  const BenchOptions& opt = run.options();
  GenParams params = run.default_params();
  params.session_id = session;
  const uint64_t seed = derive_seed(opt.seed, fmt::format("sessions/{}/{}", case_name, conv));
  std::string prompt;
  for (int turn = 1; turn <= opt.turns; ++turn) {
    if (turn > 1 && gate_tokens > 0) {
      const TrafficTotals t = thrash(run, fmt::format("sessions/{}/{}/{}", case_name, conv, turn), gate_tokens, traffic_tokens);
      out.gates_met = out.gates_met && t.failed == 0 && t.prompt_tokens >= gate_tokens;
      out.traffic.requests += t.requests;
      out.traffic.failed += t.failed;
      out.traffic.prompt_tokens += t.prompt_tokens;
      if (out.traffic.first_error.empty()) out.traffic.first_error = t.first_error;
    }
    prompt += fmt::format("{}User: {}\n\nAssistant:", turn == 1 ? "" : "\n\n",
                          distinct_prompt(run, derive_seed(seed, std::to_string(turn)), turn_tokens));
    RequestRecord r = run_generation(run.admin(), prompt, params, opt.api_key, run.start());
    if (r.ok) {
      out.all_s.push_back(r.total_s);
      if (turn > 1) {
        out.later_s.push_back(r.total_s);
        if (auto t = r.ttft_s()) out.ttft_later_s.push_back(*t);
        out.prompt += std::max(0, r.prompt_tokens);
        out.cached += std::max(0, r.cached_tokens);
      }
      out.last_prompt_tokens = r.prompt_tokens;
    }
    std::fprintf(stderr, "sessions: %s conversation %d turn %d/%d: %d prompt tokens (%d cached), %.3f s%s\n", case_name.c_str(),
                 conv + 1, turn, opt.turns, r.prompt_tokens, r.cached_tokens, r.total_s, r.ok ? "" : (" — " + r.error).c_str());
    prompt += r.text;
    const double wall = r.total_s;
    run.add_records(case_name, {std::move(r)}, wall);
  }
}

nlohmann::json case_json(const CaseResult& c) {
  return {{"turns_measured", c.later_s.size()},
          {"median_turn_s", median(c.later_s)},
          {"median_turn_all_s", median(c.all_s)},
          {"median_ttft_s", median(c.ttft_later_s)},
          {"cached_fraction", c.prompt > 0 ? static_cast<double>(c.cached) / static_cast<double>(c.prompt) : 0.0},
          {"last_turn_prompt_tokens", c.last_prompt_tokens},
          {"eviction_gate_met", c.gates_met},
          {"other_traffic", c.traffic.to_json()}};
}

}  // namespace

int scenario_sessions(const BenchOptions& opt) {
  auto r = ScenarioRun::open(opt, "sessions");
  if (!r) {
    std::fprintf(stderr, "shardlm-bench: %s\n", r.message().c_str());
    return kExitError;
  }
  ScenarioRun& run = *r.value();
  const int conversations = opt.requests > 0 ? opt.requests : 1;
  // The whole conversation must fit the context: shorten the turns if needed.
  const int fit = fit_prompt_tokens(run, opt.turns * (opt.turn_tokens + opt.max_tokens + 8));
  const int turn_tokens = std::max(4, std::min(opt.turn_tokens, fit / opt.turns - opt.max_tokens - 8));
  if (turn_tokens < opt.turn_tokens)
    std::fprintf(stderr, "shardlm-bench: sessions: %d-token turns to fit n_ctx %d (asked %d)\n", turn_tokens, run.n_ctx(),
                 opt.turn_tokens);
  const int bg_tokens = fit_prompt_tokens(run, 256);
  const long gate = evict_budget(opt, run.status_before(), bg_tokens);
  if (gate == 0) std::fprintf(stderr, "shardlm-bench: sessions: no eviction traffic between turns (--evict-tokens)\n");
  run.warmup(run.default_params());

  nlohmann::json data{{"conversations", conversations},
                      {"turns", opt.turns},
                      {"turn_tokens", turn_tokens},
                      {"evict_tokens_per_turn", gate},
                      {"other_traffic_prompt_tokens", bg_tokens},
                      {"pool_capacity_tokens", pool_capacity_tokens(run.status_before())},
                      {"kv_tier", kv_tier_of(run.status_before())}};
  CaseResult results[2];
  const char* names[2] = {"without-session", "with-session"};
  for (int c = 0; c < 2; ++c) {
    run.begin_phase(names[c]);
    std::vector<std::string> ids;
    for (int k = 0; k < conversations; ++k) {
      ids.push_back(c == 1 ? fmt::format("bench-{}-{}", run.options().seed, k) : "");
      conversation(run, names[c], ids.back(), k, turn_tokens, bg_tokens, gate, results[c]);
    }
    const TrafficTotals& t = results[c].traffic;
    nlohmann::json phase = run.end_phase({{"other_traffic", t.to_json()}});
    data[names[c]] = case_json(results[c]);
    data[names[c]]["session_hits"] = phase_metric(phase, "session_hits");
    if (gate > 0)
      run.check(std::string(names[c]) + ": the other traffic sent --evict-tokens before every turn", results[c].gates_met,
                fmt::format("{} tokens per turn; {} requests, {} failed{}", gate, t.requests, t.failed,
                            t.first_error.empty() ? "" : ": " + t.first_error));
    if (c == 1) {
      run.check("with-session: the server counted session hits", phase_metric(phase, "session_hits") > 0,
                fmt::format("shardlm_session_hits_total +{}", phase_metric(phase, "session_hits")));
      for (const auto& id : ids) (void)run.admin().request("DELETE", "/admin/sessions/" + id, "", opt.admin_bearer());
    }
  }
  const double without = data["without-session"]["median_turn_s"], with = data["with-session"]["median_turn_s"];
  data["reduction"] = without > 0 ? 1.0 - with / without : 0.0;
  data["target_reduction"] = 0.6;
  run.set_data("sessions", data);
  std::printf("sessions: median turn (turns 2..%d) %.3f s without session_id, %.3f s with: %.0f%% lower (target >= 60%%); "
              "cached %.0f%% vs %.0f%%\n",
              opt.turns, without, with, 100.0 * data["reduction"].get<double>(),
              100.0 * data["without-session"]["cached_fraction"].get<double>(),
              100.0 * data["with-session"]["cached_fraction"].get<double>());
  return run.finish();
}

}  // namespace shardlm::bench
