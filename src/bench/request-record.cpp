#include "shardlm/bench/request-record.h"

#include <cmath>

#include <fmt/format.h>

namespace shardlm::bench {

nlohmann::json GenParams::to_json() const {
  nlohmann::json j;  // nlohmann's object keeps keys sorted: the dump is canonical
  j["endpoint"] = endpoint;
  j["max_tokens"] = max_tokens;
  j["temperature"] = temperature;
  j["ignore_eos"] = ignore_eos;
  j["stream"] = stream;
  j["seed"] = seed ? nlohmann::json(*seed) : nlohmann::json(nullptr);
  if (!session_id.empty()) j["session_id"] = session_id;  // absent when unset: old identities stay
  return j;
}

bool metric_lower_is_better(std::string_view metric) {
  return metric.size() >= 7 && metric.substr(metric.size() - 7) == "_time_s";
}

std::optional<double> RequestRecord::metric(std::string_view name) const {
  if (name == "prefill_time_s") return prefill_time_s;
  if (name == "prefill_tok_s") return prefill_tok_s;
  if (name == "decode_time_s") return decode_time_s;
  if (name == "decode_tok_s") return decode_tok_s;
  if (name == "throughput_tok_s") return throughput_tok_s;
  return std::nullopt;
}

void compute_metrics(RequestRecord& r) {
  r.prefill_time_s = r.prefill_tok_s = r.decode_time_s = r.decode_tok_s = r.throughput_tok_s = std::nullopt;
  r.valid = false;
  r.invalid_reason.clear();
  if (!r.ok) {
    r.invalid_reason = "request failed";
    return;
  }
  const bool have_usage = r.prompt_tokens > 0 && r.completion_tokens > 0;
  const std::optional<double> first = r.token_times_s.empty() ? std::nullopt : std::optional<double>(r.token_times_s.front());
  std::optional<double> last = r.last_token_s;
  if (!last && !r.token_times_s.empty()) last = r.token_times_s.back();
  if (r.completion_tokens > 0 && last && *last > 0) r.throughput_tok_s = r.completion_tokens / *last;
  if (first && *first > 0) {
    r.prefill_time_s = *first;
    if (r.prompt_tokens > 0) r.prefill_tok_s = r.prompt_tokens / *first;
  }
  if (first && last && *last > *first) {
    r.decode_time_s = *last - *first;
    if (r.completion_tokens >= 2) r.decode_tok_s = (r.completion_tokens - 1) / *r.decode_time_s;
  }
  // The first reason that applies, else valid when all five are finite and > 0.
  if (!r.stream)
    r.invalid_reason = "not streamed: time to first token cannot be measured";
  else if (!have_usage)
    r.invalid_reason = "usage missing (prompt_tokens/completion_tokens)";
  else if (r.token_times_s.empty())
    r.invalid_reason = "no token was streamed";
  else if (r.completion_tokens < 2)
    r.invalid_reason = "fewer than 2 completion tokens: decode not measurable";
  else if (!r.decode_time_s)
    r.invalid_reason = "first and last token at the same time: decode not measurable";
  for (const char* m : kFiveMetrics) {
    const auto v = r.metric(m);
    if (r.invalid_reason.empty() && (!v || !std::isfinite(*v) || *v <= 0)) r.invalid_reason = std::string(m) + " missing";
  }
  r.valid = r.invalid_reason.empty();
}

std::vector<double> itl_gaps(const RequestRecord& r) {
  std::vector<double> g;
  for (size_t i = 1; i < r.token_times_s.size(); ++i) g.push_back(r.token_times_s[i] - r.token_times_s[i - 1]);
  return g;
}

uint64_t fnv1a64(std::string_view bytes, uint64_t h) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string identity_hash(std::string_view prompt, const nlohmann::json& params) {
  uint64_t h = fnv1a64(prompt);
  h = fnv1a64(std::string_view("\0", 1), h);
  h = fnv1a64(params.dump(), h);
  return fmt::format("{:016x}", h);
}

nlohmann::json record_to_json(const RequestRecord& r) {
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  auto cnt = [](int v) { return v >= 0 ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json j;
  j["index"] = r.index;
  j["case"] = r.case_name;
  j["identity"] = r.identity;
  j["endpoint"] = r.endpoint;
  j["stream"] = r.stream;
  j["prompt_chars"] = r.prompt_chars;
  j["http_status"] = r.http_status;
  j["ok"] = r.ok;
  if (!r.retry_after.empty()) j["retry_after"] = r.retry_after;
  j["error"] = r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error);
  j["scheduled_s"] = r.scheduled_s;
  j["send_s"] = r.send_s;
  j["total_s"] = r.total_s;
  j["ttft_s"] = opt(r.prefill_time_s);
  j["last_token_s"] = opt(r.last_token_s);
  j["prompt_tokens"] = cnt(r.prompt_tokens);
  j["completion_tokens"] = cnt(r.completion_tokens);
  j["cached_tokens"] = cnt(r.cached_tokens);
  j["streamed_chunks"] = r.streamed_chunks;
  j["finish_reason"] = r.finish_reason;
  for (const char* m : kFiveMetrics) j[m] = opt(r.metric(m));
  const auto g = itl_gaps(r);
  double mx = 0, sum = 0;
  for (double x : g) {
    mx = std::max(mx, x);
    sum += x;
  }
  j["itl_mean_s"] = g.empty() ? nlohmann::json(nullptr) : nlohmann::json(sum / static_cast<double>(g.size()));
  j["itl_max_s"] = g.empty() ? nlohmann::json(nullptr) : nlohmann::json(mx);
  j["valid"] = r.valid;
  j["invalid_reason"] = r.invalid_reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.invalid_reason);
  return j;
}

}  // namespace shardlm::bench
