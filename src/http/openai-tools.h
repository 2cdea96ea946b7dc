// Chat tool fields of a request: "tools", "tool_choice", "parallel_tool_calls", and
// messages' "tool_calls" / "tool_call_id" (see shardlm/http/openai-request.h).
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "shardlm/http/openai-request.h"

namespace shardlm::http::detail {

// "tools", "tool_choice", "parallel_tool_calls" of the body into r.
std::optional<ApiError> parse_tools(const nlohmann::json& body, ApiRequest& r);
// One message's tool fields (param: "messages[i]").
std::optional<ApiError> parse_message_tools(const nlohmann::json& m, const std::string& param, ApiMessage& msg);
// Whether s has the shape of a JSON schema (ApiTool's rules); param names it.
std::optional<ApiError> check_schema(const nlohmann::json& s, const std::string& param);

}  // namespace shardlm::http::detail
