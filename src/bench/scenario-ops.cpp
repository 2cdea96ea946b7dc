// Operations scenarios.
// memory: per-rank memory through a load/unload cycle, from /admin/status (the ranks
//   report at every load and unload): unload → baseline, load, requests, unload →
//   compare each rank's resident_anon_bytes with the baseline (within 3%), then load
//   again if the model was loaded at the start.
// stress: `requests` sequential requests (must all succeed), a spike of --spike
//   parallel requests (429 expected past the server's queue, with Retry-After), bad
//   requests (each must get its documented 4xx), waiting until the server is idle,
//   `requests` sequential requests again (must all succeed), and no restart
//   (uptime_seconds kept growing, requests.total did not go back).
#include <cmath>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "scenarios.h"
#include "shardlm/bench/server-api.h"

namespace shardlm::bench {

namespace {

int fail(const std::string& msg) {
  std::fprintf(stderr, "shardlm-bench: %s\n", msg.c_str());
  return kExitError;
}

double num(const nlohmann::json& j, const char* k) {
  return j.is_object() && j.contains(k) && j[k].is_number() ? j[k].get<double>() : NAN;
}

// Per-rank {rank, host, resident, anon, model, kv} from a status.
nlohmann::json memory_of(const nlohmann::json& status) {
  nlohmann::json out = nlohmann::json::array();
  if (!status.is_object() || !status.contains("memory") || !status["memory"].is_array()) return out;
  for (const auto& m : status["memory"])
    out.push_back({{"rank", m.value("rank", -1)},
                   {"host", m.value("host", "")},
                   {"resident_bytes", num(m, "resident_bytes")},
                   {"resident_anon_bytes", num(m, "resident_anon_bytes")},
                   {"model_bytes", num(m, "model_bytes")},
                   {"kv_bytes", num(m, "kv_bytes")}});
  return out;
}

}  // namespace

int scenario_memory(const BenchOptions& opt) {
  auto r = ScenarioRun::open(opt, "memory");
  if (!r) return fail(r.message());
  ScenarioRun& run = *r.value();
  const std::string& key = opt.admin_bearer();
  const bool was_loaded = run.status_before().value("model_loaded", false);
  // Prompts first: the calibration probe needs a loaded model.
  const int n = opt.requests > 0 ? opt.requests : 4;
  const auto prompts = make_prompt_set(prompt_config(run, "memory", PromptKind::short_, n));
  auto status = [&]() -> nlohmann::json {
    auto s = get_json(run.admin(), "/admin/status", key);
    return s ? s.value() : nlohmann::json{{"error", s.message()}};
  };
  nlohmann::json stages = nlohmann::json::object();
  stages["start"] = memory_of(run.status_before());
  if (Status st = admin_post(run.admin(), "/admin/unload", key); !st) return fail(st.message());
  const nlohmann::json base = status();
  stages["unloaded"] = memory_of(base);
  if (Status st = admin_post(run.admin(), "/admin/load", key, "{}"); !st) return fail(st.message());
  stages["loaded"] = memory_of(status());
  run.warmup(run.default_params());
  run.run("loaded", specs_for(run, "loaded", prompts), 1);
  stages["after_requests"] = memory_of(status());  // as of the last heartbeat
  if (Status st = admin_post(run.admin(), "/admin/unload", key); !st) return fail(st.message());
  const nlohmann::json after = status();
  stages["after_unload"] = memory_of(after);
  if (was_loaded) {
    if (Status st = admin_post(run.admin(), "/admin/load", key, "{}"); !st) run.check("model loaded again", false, st.message());
  }
  run.set_data("memory", stages);
  // Compare after_unload with unloaded, rank by rank.
  bool ok = !stages["unloaded"].empty() && stages["unloaded"].size() == stages["after_unload"].size();
  std::string detail;
  std::printf("%-5s %-12s %14s %14s %14s %14s %8s\n", "rank", "host", "anon unloaded", "anon loaded", "anon requests",
              "anon unload", "growth");
  for (size_t i = 0; i < stages["unloaded"].size() && i < stages["after_unload"].size(); ++i) {
    const double b = stages["unloaded"][i]["resident_anon_bytes"], a = stages["after_unload"][i]["resident_anon_bytes"];
    const double growth = b > 0 ? a / b - 1 : NAN;
    stages["after_unload"][i]["growth_vs_unloaded"] = growth;
    ok = ok && std::isfinite(growth) && growth <= 0.03;
    detail += fmt::format("{}rank {} {:+.2f}%", detail.empty() ? "" : ", ", i, 100 * growth);
    auto mib = [](const nlohmann::json& j) { return j.is_number() ? j.get<double>() / 1048576.0 : NAN; };
    std::printf("%-5zu %-12s %13.1fM %13.1fM %13.1fM %13.1fM %7.2f%%\n", i,
                stages["unloaded"][i]["host"].get<std::string>().c_str(), mib(stages["unloaded"][i]["resident_anon_bytes"]),
                i < stages["loaded"].size() ? mib(stages["loaded"][i]["resident_anon_bytes"]) : NAN,
                i < stages["after_requests"].size() ? mib(stages["after_requests"][i]["resident_anon_bytes"]) : NAN,
                mib(stages["after_unload"][i]["resident_anon_bytes"]), 100 * growth);
  }
  run.set_data("memory", stages);
  run.check("anonymous memory after unload within 3% of the unloaded baseline", ok, detail);
  return run.finish();
}

int scenario_stress(const BenchOptions& opt) {
  auto r = ScenarioRun::open(opt, "stress");
  if (!r) return fail(r.message());
  ScenarioRun& run = *r.value();
  run.expect_failures(true);
  const std::string& key = opt.admin_bearer();
  const int n = opt.requests > 0 ? opt.requests : 4;
  const int spike = opt.spike > 0 ? opt.spike : 64;
  auto status = [&]() { auto s = get_json(run.admin(), "/admin/status", key); return s ? s.value() : nlohmann::json(); };
  const nlohmann::json s0 = status();
  const auto t0 = Clock::now();
  run.warmup(run.default_params());

  auto all_ok = [](const std::vector<RequestRecord>& rs, std::string& why) {
    size_t ok = 0, valid = 0;
    for (const auto& x : rs) {
      ok += x.ok;
      valid += x.valid;
      if (!x.ok && why.empty()) why = x.error;
    }
    why = fmt::format("{} of {} succeeded, {} valid{}", ok, rs.size(), valid, why.empty() ? "" : "; " + why);
    return ok == rs.size() && valid == rs.size() && !rs.empty();
  };
  std::string why;
  const auto before = run.run("before", specs_for(run, "before", make_prompt_set(prompt_config(run, "stress/before", PromptKind::short_, n))), 1);
  run.check("before the spike: every request succeeds", all_ok(before, why), why);

  const auto spike_recs =
      run.run("spike", specs_for(run, "spike", make_prompt_set(prompt_config(run, "stress/spike", PromptKind::short_, spike))), spike);
  size_t n429 = 0, n200 = 0, other = 0, retry = 0;
  for (const auto& x : spike_recs) {
    if (x.http_status == 429) {
      ++n429;
      retry += !x.retry_after.empty();
    } else if (x.ok) {
      ++n200;
    } else {
      ++other;
    }
  }
  run.check("the spike gets 429 past the queue", n429 > 0,
            n429 ? fmt::format("{} × 429, {} × 200", n429, n200)
                 : fmt::format("no 429 among {} requests: raise --spike above the server's --max-queue + --max-num-seqs", spike));
  run.check("every 429 carries Retry-After", retry == n429, fmt::format("{} of {}", retry, n429));
  run.check("the spike gets only 200 or 429", other == 0, fmt::format("{} other outcomes", other));

  // Bad requests, each with its documented status.
  struct Bad {
    const char* what;
    const char* method;
    const char* path;
    std::string body;
    int expect;
  };
  const std::vector<Bad> bad = {
      {"malformed JSON", "POST", "/v1/completions", "{\"prompt\": ", 400},
      {"temperature out of range", "POST", "/v1/completions", R"({"prompt":"hi","max_tokens":4,"temperature":3})", 400},
      {"max_tokens 0", "POST", "/v1/completions", R"({"prompt":"hi","max_tokens":0})", 400},
      {"n = 2", "POST", "/v1/completions", R"({"prompt":"hi","max_tokens":4,"n":2})", 400},
      {"context exceeded", "POST", "/v1/completions", R"({"prompt":"hi","max_tokens":2000000000})", 400},
      {"missing prompt", "POST", "/v1/completions", R"({"max_tokens":4})", 400},
      {"unknown path", "POST", "/v1/nothing", "{}", 404},
      {"wrong method", "GET", "/v1/completions", "", 405},
  };
  nlohmann::json bad_out = nlohmann::json::array();
  bool bad_ok = true;
  HttpClient client(run.admin().config());
  for (const auto& b : bad) {
    auto res = client.request(b.method, b.path, b.body, opt.api_key);
    const int got = res ? res->status : 0;
    bool has_error = false;
    if (res) {
      try {
        has_error = nlohmann::json::parse(res->body).contains("error");
      } catch (const std::exception&) {
      }
    }
    const bool ok = got == b.expect && has_error;
    bad_ok = bad_ok && ok;
    bad_out.push_back({{"what", b.what}, {"expected", b.expect}, {"status", got}, {"error_object", has_error}, {"ok", ok}});
  }
  run.set_data("bad_requests", bad_out);
  std::string bad_detail;
  for (const auto& b : bad_out)
    if (!b["ok"].get<bool>())
      bad_detail += fmt::format("{}{}: got {} (expected {})", bad_detail.empty() ? "" : "; ", b["what"].get<std::string>(),
                                b["status"].get<int>(), b["expected"].get<int>());
  run.check("bad requests get their 4xx with an error object", bad_ok,
            bad_ok ? fmt::format("{} of {}", bad_out.size(), bad_out.size()) : bad_detail);

  // Recovery: wait until nothing runs or waits.
  const auto r0 = Clock::now();
  double recovery_s = -1;
  while (std::chrono::duration<double>(Clock::now() - r0).count() < opt.timeout_s) {
    auto h = get_json(run.admin(), "/admin/health", key);
    if (h && h->value("running", 1) == 0 && h->value("waiting", 1) == 0) {
      recovery_s = std::chrono::duration<double>(Clock::now() - r0).count();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  run.set_data("recovery_s", recovery_s);
  run.check("the server is idle again after the spike", recovery_s >= 0, fmt::format("{:.2f} s", recovery_s));
  why.clear();
  const auto after = run.run("after", specs_for(run, "after", make_prompt_set(prompt_config(run, "stress/after", PromptKind::short_, n))), 1);
  run.check("after the spike: every request succeeds", all_ok(after, why), why);

  const nlohmann::json s1 = status();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const double u0 = s0.contains("requests") ? num(s0["requests"], "uptime_seconds") : NAN;
  const double u1 = s1.contains("requests") ? num(s1["requests"], "uptime_seconds") : NAN;
  const double q0 = s0.contains("requests") ? num(s0["requests"], "total") : NAN;
  const double q1 = s1.contains("requests") ? num(s1["requests"], "total") : NAN;
  run.set_data("uptime_s", {{"before", u0}, {"after", u1}, {"elapsed", elapsed}});
  run.check("no server restart (uptime and request total kept growing)", u1 >= u0 + elapsed - 2 && q1 >= q0,
            fmt::format("uptime {:.1f} → {:.1f} s over {:.1f} s; requests {} → {}", u0, u1, elapsed, q0, q1));
  return run.finish();
}

}  // namespace shardlm::bench
