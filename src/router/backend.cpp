#include "shardlm/router/backend.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "shardlm/core/regular-file.h"

namespace shardlm::router {

using nlohmann::json;

const char* backend_state_name(BackendState s) {
  switch (s) {
    case BackendState::unknown: return "unknown";
    case BackendState::warming: return "warming";
    case BackendState::up: return "up";
    case BackendState::down: return "down";
  }
  return "unknown";
}

void PassiveSignals::on_outcome(bool ok, double first_byte_s, double now) {
  error_ewma = (1 - kPassiveAlpha) * error(now) + kPassiveAlpha * (ok ? 0.0 : 1.0);
  error_at = now;
  if (first_byte_s >= 0)
    first_byte_ewma = first_byte_ewma < 0 ? first_byte_s : (1 - kPassiveAlpha) * first_byte_ewma + kPassiveAlpha * first_byte_s;
}

double PassiveSignals::error(double now) const {
  if (error_ewma <= 0) return 0;
  return error_ewma * std::exp2(-std::max(0.0, now - error_at) / kPassiveHalfLifeS);
}

double Backend::score(double now) const {
  const double active = std::max<double>(inflight.load(), load.known ? load.running : 0);
  return active + (load.known ? load.waiting : 0) + kKvLoadWeight * load.kv_used + kErrorLoadWeight * passive.error(now);
}

json Backend::status_json(double now) const {
  json j;
  j["url"] = name;
  j["state"] = backend_state_name(state);
  j["breaker"] = {{"state", breaker_state_name(breaker.state())},
                  {"consecutive_failures", breaker.consecutive()},
                  {"opened", breaker.opened()}};
  j["in_flight"] = inflight.load();
  j["load"] = load.known ? json{{"running", load.running}, {"waiting", load.waiting}, {"kv_used", load.kv_used}}
                         : json(nullptr);
  j["queue"] = load.known ? json(load.waiting) : json(nullptr);
  j["kv_used"] = load.known ? json(load.kv_used) : json(nullptr);
  j["score"] = score(now);
  j["passive"] = {{"error_ewma", passive.error(now)},
                  {"first_byte_ewma_s", passive.first_byte_ewma >= 0 ? json(passive.first_byte_ewma) : json(nullptr)}};
  j["full"] = full_until > now;
  j["requests"] = requests.load();
  j["errors"] = failures.load();
  j["health_failures"] = health_failures.load();
  j["migrated_from"] = migrated_from.load();
  j["last_error"] = last_error.empty() ? json(nullptr) : json(last_error);
  j["warmup_seconds"] = warmup_s >= 0 ? json(warmup_s) : json(nullptr);
  j["removed"] = removed;
  return j;
}

Result<std::vector<std::string>> read_backends_file(const std::string& path) {
  auto text = read_regular_file(path);
  if (!text) return Status::errorf("--backends {}: {}", path, text.message());
  std::vector<std::string> out;
  size_t line_no = 0, pos = 0;
  const std::string& s = text.value();
  while (pos <= s.size()) {
    size_t end = s.find('\n', pos);
    if (end == std::string::npos) end = s.size();
    std::string line = s.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (auto h = line.find('#'); h != std::string::npos) line.erase(h);
    line.erase(0, line.find_first_not_of(" \t\r"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (line.empty()) continue;
    if (auto u = client::parse_url(line); !u) return Status::errorf("--backends {} line {}: {}", path, line_no, u.message());
    out.push_back(line);
  }
  return out;
}

}  // namespace shardlm::router
