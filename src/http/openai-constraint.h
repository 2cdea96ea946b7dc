// Constrained output fields of a request: "response_format" (json_object, json_schema)
// and the grammar of a forced tool call (tool_choice required / named). Both compile a
// JSON schema with grammar::compile; its errors become 400s naming the field.
#pragma once
#include <optional>

#include <nlohmann/json.hpp>

#include "shardlm/http/openai-request.h"

namespace shardlm::http::detail {

// "response_format" of the body into r (text: unconstrained).
std::optional<ApiError> parse_response_format(const nlohmann::json& body, ApiRequest& r);
// After parse_tools: tool_choice required / named → r.grammar for the call array
// (replacing a response_format grammar). Nothing for none / auto.
std::optional<ApiError> build_tool_call_grammar(ApiRequest& r);
// The schema of the call array a forced tool call is decoded as (tools' parameters
// already checked): [{"name": N, "arguments": PARAMS}] with 1 item, or at least 1 when
// several calls are allowed. Exposed for tests.
nlohmann::json tool_call_schema(const ApiRequest& r);

}  // namespace shardlm::http::detail
