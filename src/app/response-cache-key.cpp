#include "app/response-cache-key.h"

#include <cctype>

#include <nlohmann/json.hpp>

namespace shardlm {

namespace {

// FNV-1a, 64 bits: the template's identity inside a key that is compared whole.
uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string lower_trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

CacheControl parse_cache_control(std::string_view field) {
  CacheControl cc;
  while (!field.empty()) {
    const size_t comma = field.find(',');
    const std::string d = lower_trim(field.substr(0, comma));
    if (d == "no-cache") cc.no_cache = true;
    if (d == "no-store") cc.no_store = true;
    if (comma == std::string_view::npos) break;
    field.remove_prefix(comma + 1);
  }
  return cc;
}

ResponseCacheUse response_cache_use(http::ApiKind kind, const http::ApiRequest& req, std::string_view body,
                                    std::string_view cache_control, const std::vector<int32_t>& prompt,
                                    int32_t max_tokens, std::string_view template_id) {
  ResponseCacheUse u;
  const CacheControl cc = parse_cache_control(cache_control);
  const bool deterministic = req.sampling.temperature == 0.0f || req.seed.has_value();
  if (!deterministic || cc.no_store) return u;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return u;
  for (const char* framing : {"stream", "stream_options", "user"}) j.erase(framing);
  std::string& k = u.key;
  k = kind == http::ApiKind::chat ? "chat" : "completion";
  k += "\ntemplate " + std::to_string(fnv1a(template_id));
  k += "\nmax_tokens " + std::to_string(max_tokens);
  k += "\nprompt";
  for (int32_t t : prompt) k += ' ' + std::to_string(t);
  k += "\nbody ";
  k += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  u.use = true;
  u.read = !cc.no_cache;
  return u;
}

}  // namespace shardlm
