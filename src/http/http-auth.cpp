#include "http/http-auth.h"

#include <algorithm>

#include "http/http-text.h"

namespace shardlm::http::detail {

bool keys_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() != b.size() ? 1 : 0;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

bool bearer_matches(std::string_view auth, const std::string& key) {
  auth = trim_ows(auth);
  if (auth.size() < 7 || !iequals(auth.substr(0, 6), "bearer") || (auth[6] != ' ' && auth[6] != '\t')) return false;
  return keys_equal(trim_ows(auth.substr(7)), key);
}

std::optional<ApiError> check_auth(const HttpServerConfig& cfg, const std::string& target, bool admin_route,
                                   std::string_view authorization) {
  const bool admin = admin_route || target.rfind("/admin/", 0) == 0;
  const std::string* key = nullptr;
  if (admin)
    key = !cfg.admin_key.empty() ? &cfg.admin_key : &cfg.api_key;
  else if (std::find(cfg.open_paths.begin(), cfg.open_paths.end(), target) == cfg.open_paths.end())
    key = &cfg.api_key;
  if (!key || key->empty()) return std::nullopt;
  if (authorization.empty()) return unauthorized("Missing API key: send the header 'Authorization: Bearer <key>'.");
  if (!bearer_matches(authorization, *key)) return unauthorized("Incorrect API key provided.");
  return std::nullopt;
}

}  // namespace shardlm::http::detail
