#include "shardlm/bench/run-summary.h"

#include <cmath>
#include <map>

#include "shardlm/bench/stats.h"

namespace shardlm::bench {

nlohmann::json summarize_records(const std::vector<RequestRecord>& records, double wall_s) {
  nlohmann::json j;
  size_t ok = 0, valid = 0;
  std::map<std::string, size_t> statuses, reasons;
  long long prompt = 0, completion = 0, cached = 0;
  std::map<std::string, std::vector<double>> metric;
  std::vector<double> ttft, itl, e2e;
  for (const auto& r : records) {
    statuses[r.http_status ? std::to_string(r.http_status) : "transport_error"]++;
    if (r.ok) {
      ++ok;
      e2e.push_back(r.total_s);
      prompt += std::max(0, r.prompt_tokens);
      completion += std::max(0, r.completion_tokens);
      cached += std::max(0, r.cached_tokens);
      if (!r.valid) reasons[r.invalid_reason]++;
    }
    if (!r.valid) continue;
    ++valid;
    for (const char* m : kFiveMetrics) metric[m].push_back(*r.metric(m));
    ttft.push_back(*r.prefill_time_s);
    for (double g : itl_gaps(r)) itl.push_back(g);
  }
  j["requests"] = records.size();
  j["succeeded"] = ok;
  j["success_rate"] = records.empty() ? 0.0 : static_cast<double>(ok) / static_cast<double>(records.size());
  j["valid_requests"] = valid;
  j["invalid_requests"] = ok - valid;
  j["invalid_reasons"] = reasons;
  j["http_status_counts"] = statuses;
  j["wall_s"] = wall_s;
  j["aggregate_throughput_tok_s"] = wall_s > 0 ? static_cast<double>(completion) / wall_s : 0.0;
  j["tokens"] = {{"prompt", prompt}, {"completion", completion}, {"cached", cached}};
  nlohmann::json m = nlohmann::json::object();
  for (const char* name : kFiveMetrics) m[name] = summary_to_json(summarize(metric[name]));
  j["metrics"] = m;
  j["ttft_s"] = summary_to_json(summarize(ttft));
  j["itl_s"] = summary_to_json(summarize(itl));
  j["e2e_s"] = summary_to_json(summarize(e2e));
  return j;
}

std::vector<std::string> summary_problems(const nlohmann::json& s) {
  std::vector<std::string> p;
  if (!s.contains("metrics") || !s["metrics"].is_object()) return {"no metrics"};
  for (const char* name : kFiveMetrics) {
    const auto& m = s["metrics"].value(name, nlohmann::json());
    if (!m.is_object() || !m.contains("mean") || !m["mean"].is_number() || !(m["mean"].get<double>() > 0))
      p.push_back(std::string(name) + ": missing or not positive");
  }
  for (const char* k : {"ttft_s", "itl_s"}) {
    const auto& m = s.value(k, nlohmann::json());
    if (!m.is_object() || m.value("n", 0) == 0) continue;
    const double a = m["p50"], b = m["p95"], c = m["p99"];
    if (!(a <= b && b <= c)) p.push_back(std::string(k) + ": percentiles out of order");
  }
  return p;
}

}  // namespace shardlm::bench
