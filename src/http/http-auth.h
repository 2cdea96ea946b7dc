// Which key a request needs and whether it carries it (see server.h, "Auth"). Decided
// from the path alone, before routing: an unknown path needs the API key (the admin key
// under /admin/) when one is set, so that a client without a key learns nothing about
// which routes exist. Private to src/http.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "shardlm/http/api-error.h"
#include "shardlm/http/server.h"

namespace shardlm::http::detail {

// Equal keys? Constant time in the keys' content (only the length may leak).
bool keys_equal(std::string_view a, std::string_view b);

// "Authorization: Bearer <key>" (scheme case-insensitive, RFC 7235) with this key?
bool bearer_matches(std::string_view authorization, const std::string& key);

// The error for a request to target (admin_route: registered as admin, or under /admin/)
// with this Authorization value; nullopt when it may go on.
std::optional<ApiError> check_auth(const HttpServerConfig& cfg, const std::string& target, bool admin_route,
                                   std::string_view authorization);

}  // namespace shardlm::http::detail
