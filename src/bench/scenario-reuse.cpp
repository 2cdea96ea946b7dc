// reuse-verify: identical requests must give identical outputs, and the server's reuse
// must show. For each of `requests` prompts (default 4), sequentially:
//   first      the request as JSON (greedy, max_tokens, ignore_eos)
//   repeat     the same request 3 times as JSON, then once streamed (SSE)
//   recompute  the same request with `Cache-Control: no-store` (never the cache)
// Checks: every text equals the recompute's; when the server has a response cache
// (/admin/status response_cache.enabled), the first is a miss (or a hit left by an
// earlier run), every repeat a hit with usage.cached_tokens = prompt_tokens, the
// recompute a bypass. scenario_data: end-to-end latency per case (median) and the
// speedup of a repeat over the first request.
#include <cstdio>

#include <fmt/format.h>

#include "scenarios.h"
#include "shardlm/bench/sse-parser.h"
#include "shardlm/bench/stats.h"

namespace shardlm::bench {

namespace {

struct Answer {
  bool ok = false;
  std::string text, cache, error;  // cache: the X-Response-Cache field ("" when absent)
  int prompt_tokens = -1, cached_tokens = -1;
  double seconds = 0;
};

std::string request_body(const std::string& prompt, int max_tokens, bool stream) {
  nlohmann::json j{{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}, {"ignore_eos", true}};
  if (stream) {
    j["stream"] = true;
    j["stream_options"] = {{"include_usage", true}};
  }
  return j.dump();
}

void read_usage(const nlohmann::json& j, Answer& a) {
  if (!j.contains("usage") || !j["usage"].is_object()) return;
  a.prompt_tokens = j["usage"].value("prompt_tokens", -1);
  a.cached_tokens = j["usage"].contains("prompt_tokens_details") ? j["usage"]["prompt_tokens_details"].value("cached_tokens", 0) : 0;
}

// no_store: sent with `Cache-Control: no-store` (a computation that bypasses the cache).
Answer ask(HttpClient& client, const std::string& key, const std::string& prompt, int max_tokens, bool stream,
           bool no_store = false) {
  Answer a;
  const std::string body = request_body(prompt, max_tokens, stream);
  SseParser parser;
  std::vector<SseEvent> events;
  CallOptions opts;
  if (no_store) opts.headers = {{"Cache-Control", "no-store"}};
  ChunkFn on_chunk;
  if (stream) on_chunk = [&](std::string_view b, Clock::time_point t) { parser.feed(b, t, events); };
  auto res = client.exchange("POST", "/v1/completions", body, key, opts, {}, on_chunk);
  if (!res) {
    a.error = res.message();
    return a;
  }
  a.seconds = std::chrono::duration<double>(res->done_at - res->sent_at).count();
  if (auto it = res->headers.find("x-response-cache"); it != res->headers.end()) a.cache = it->second;
  if (res->status != 200) {
    a.error = fmt::format("HTTP {}: {}", res->status, res->body.substr(0, 200));
    return a;
  }
  if (!stream) {
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_discarded() || !j.contains("choices")) {
      a.error = "not a completion: " + res->body.substr(0, 200);
      return a;
    }
    a.text = j["choices"][0].value("text", "");
    read_usage(j, a);
    a.ok = true;
    return a;
  }
  parser.finish(Clock::now(), events);
  for (const auto& e : events) {
    if (e.data == "[DONE]") {
      a.ok = true;
      break;
    }
    auto j = nlohmann::json::parse(e.data, nullptr, false);
    if (j.is_discarded()) continue;
    if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) a.text += j["choices"][0].value("text", "");
    read_usage(j, a);
  }
  if (!a.ok) a.error = "the stream ended without [DONE]";
  return a;
}

double median_of(std::vector<double> v) { return v.empty() ? 0.0 : percentile(v, 50); }

}  // namespace

int scenario_reuse_verify(const BenchOptions& opt) {
  auto r = ScenarioRun::open(opt, "reuse-verify");
  if (!r) {
    std::fprintf(stderr, "shardlm-bench: %s\n", r.message().c_str());
    return kExitError;
  }
  ScenarioRun& run = *r.value();
  const nlohmann::json& status = run.status_before();
  const bool has_cache = status.contains("response_cache") && status["response_cache"].value("enabled", false);
  const int n = opt.requests > 0 ? opt.requests : 4;
  const int max_tokens = opt.max_tokens;
  auto url = parse_url(opt.url);
  HttpClient client(HttpClientConfig{url.value(), opt.timeout_s});
  const auto prompts = make_prompt_set(prompt_config(run, "reuse-verify", PromptKind::long_, n));

  std::vector<double> first_s, repeat_s, stream_s, recompute_s;
  int equal = 0, total = 0, signals_ok = 0, failed = 0;
  std::string first_detail;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::string& p = prompts[i].text;
    Answer first = ask(client, opt.api_key, p, max_tokens, false);
    std::vector<Answer> repeats;
    for (int k = 0; k < 3; ++k) repeats.push_back(ask(client, opt.api_key, p, max_tokens, false));
    repeats.push_back(ask(client, opt.api_key, p, max_tokens, true));
    Answer again = ask(client, opt.api_key, p, max_tokens, false, /*no_store=*/true);
    std::vector<const Answer*> all{&first, &again};
    for (const auto& a : repeats) all.push_back(&a);
    for (const Answer* a : all)
      if (!a->ok) {
        ++failed;
        if (first_detail.empty()) first_detail = a->error;
      }
    for (const Answer* a : all) {
      ++total;
      equal += a->ok && a->text == again.text ? 1 : 0;
    }
    bool sig = again.cache == (has_cache ? "bypass" : "");
    if (has_cache) {
      sig = sig && (first.cache == "miss" || first.cache == "hit");
      for (const auto& a : repeats) sig = sig && a.cache == "hit" && a.cached_tokens == a.prompt_tokens && a.prompt_tokens > 0;
    }
    signals_ok += sig ? 1 : 0;
    first_s.push_back(first.seconds);
    for (int k = 0; k < 3; ++k) repeat_s.push_back(repeats[static_cast<size_t>(k)].seconds);
    stream_s.push_back(repeats.back().seconds);
    recompute_s.push_back(again.seconds);
    std::fprintf(stderr, "reuse-verify: prompt %zu/%zu: first %.3f s (%s), repeat %.4f s (%s), recompute %.3f s\n", i + 1,
                 prompts.size(), first.seconds, first.cache.c_str(), repeats[0].seconds, repeats[0].cache.c_str(), again.seconds);
  }
  run.check("all requests answered", failed == 0, first_detail);
  run.check("identical outputs", equal == total, fmt::format("{} of {} texts equal the recompute", equal, total));
  if (has_cache)
    run.check("response cache signals", signals_ok == n,
              fmt::format("{} of {} prompts: miss then hits with every prompt token cached, no-store bypassed", signals_ok, n));
  const double f = median_of(first_s), rep = median_of(repeat_s);
  nlohmann::json data{{"response_cache", has_cache},
                      {"prompts", n},
                      {"max_tokens", max_tokens},
                      {"first_median_s", f},
                      {"repeat_median_s", rep},
                      {"stream_repeat_median_s", median_of(stream_s)},
                      {"recompute_median_s", median_of(recompute_s)},
                      {"repeat_speedup", rep > 0 ? f / rep : 0.0},
                      {"texts_equal", equal},
                      {"texts", total}};
  run.set_data("reuse-verify", data);
  std::printf("reuse-verify: %d/%d texts equal; first %.4f s, repeat %.5f s (%.0fx), streamed repeat %.5f s, recompute %.4f s%s\n",
              equal, total, f, rep, rep > 0 ? f / rep : 0.0, median_of(stream_s), median_of(recompute_s),
              has_cache ? "" : " (no response cache on this server)");
  return run.finish();
}

}  // namespace shardlm::bench
