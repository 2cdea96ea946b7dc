// OpenAI API requests: a JSON body -> a validated native request (ApiRequest).
//
// Pure functions: no HTTP, no model, no threads. The HTTP thread that owns a request
// calls them; nothing is shared. They never throw: every failure is an ApiError value.
//
// Status mapping: every parse or validation failure here is 400 invalid_request_error
// (what OpenAI itself answers, 422 is not used), with `param` naming the field:
// "temperature", "stop[1]", "prompt[0][3]", "messages[2].content[0].type". 401, 404,
// 413, 429, 500 and 503 belong to the HTTP layer and the engine.
//
// Field policy:
//  - null is the same as absent for every optional field (clients send explicit nulls).
//  - Unknown fields are ignored (clients send extras). Known features we do not support
//    are rejected only when their value would change the output: n != 1, best_of != 1,
//    a non-empty logit_bias, a non-empty suffix, and echo together with logprobs (it
//    needs prompt logprobs). response_format "text", "json_object" and "json_schema"
//    are supported (openai-constraint.cpp): the JSON ones compile to a grammar, and a
//    schema keyword outside grammar/'s subset is a 400 naming it (param
//    response_format.json_schema.schema), never ignored.
//    Chat "tools", "tool_choice", "parallel_tool_calls" and messages' "tool_calls" /
//    "tool_call_id" are validated here (openai-tools.cpp; see ApiTool); completions
//    ignore them. The legacy "functions" / "function_call" are ignored.
//  - Integers may also be written as integral floats (16.0), as pydantic-based servers
//    accept; 1.5 is rejected. Numbers too large for a double (1e400) are malformed JSON.
//  - The body must be valid UTF-8 (checked first, the error names the byte offset);
//    JSON escapes of lone surrogates ("\ud800") are rejected as malformed JSON.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "shardlm/http/api-error.h"
#include "shardlm/sampling/sampling-params.h"

namespace shardlm::grammar {
class Grammar;
}

namespace shardlm::http {

enum class ApiKind { completion, chat };

// One completion prompt: text to tokenize, or token ids given by the client.
struct PromptInput {
  std::string text;             // when !is_tokens; may be "" (the caller checks the token count)
  std::vector<int32_t> tokens;  // when is_tokens; each >= 0 (vocab range: the caller checks)
  bool is_tokens = false;
};

// One chat message. content may arrive as a string or as an array of
// {"type": "text", "text": ...} parts; the parts are joined with "\n".
// The template sees the message as sent (app/chat-prompt.h); these fields are what
// the server itself needs.
struct ApiMessage {
  std::string role;     // system | developer | user | assistant | tool (kept as sent)
  std::string content;  // "" for an assistant message with content null
  std::string name;     // optional participant name; "" if absent
  // assistant: "tool_calls", each {id?, type "function", function {name, arguments:
  // a JSON object, or a string holding one}}; content may then be null or absent.
  size_t n_tool_calls = 0;
  std::string tool_call_id;  // tool: "tool_call_id" (required for role tool)
};

// One entry of "tools": {"type": "function", "function": {name, description?,
// parameters?, strict?}}. name: 1-64 of [A-Za-z0-9_-], unique in the request.
// parameters must be a JSON schema object: "type" a type name or a list of them,
// "properties" an object of schemas, "required" a list of strings, "items" a schema,
// "enum" a non-empty list, "anyOf"/"oneOf"/"allOf" non-empty lists of schemas,
// "additionalProperties" a boolean or a schema, min/max counts integers >= 0 (checked
// at every depth; unknown keywords pass).
struct ApiTool {
  std::string name;
  std::string description;
  std::string parameters;  // the schema as compact JSON; "" when absent
};

// "tool_choice": "none" | "auto" | "required" | {"type": "function", "function": {"name"}}.
// Default: auto with tools, none without. required / a name need "tools"; a name must
// be one of them. Both are decoded under a grammar (openai-constraint.cpp): the answer
// is a JSON array of calls [{"name": N, "arguments": {...}}] (exactly one with a name or
// parallel_tool_calls false), each call's arguments constrained by its tool's
// "parameters" (a schema outside grammar/'s subset: 400, param tools[i].function.parameters).
enum class ToolChoiceMode { none, auto_, required, named };
struct ToolChoice {
  ToolChoiceMode mode = ToolChoiceMode::none;
  std::string name;  // named
};

struct ApiRequest {
  ApiKind kind = ApiKind::completion;
  std::string model;  // optional; any value accepted, echoed back in responses

  // completion: "prompt" as string | [int] | [string] | [[int]] (at least one entry).
  // Several prompts mean several choices (index = prompt position); the server may
  // refuse more than one.
  std::vector<PromptInput> prompts;
  // chat: "messages", at least one.
  std::vector<ApiMessage> messages;
  // chat: "tools", "tool_choice", "parallel_tool_calls" (default true; false: only the
  // answer's first call is returned).
  std::vector<ApiTool> tools;
  ToolChoice tool_choice;
  bool parallel_tool_calls = true;

  // Constrained output: "response_format" json_object / json_schema, or a forced tool
  // call (tool_choice required / named; it wins over response_format). grammar is null
  // when unconstrained; grammar_key is the canonical text it was compiled from.
  enum class Constraint { none, json_object, json_schema, tool_calls } constraint = Constraint::none;
  std::shared_ptr<const grammar::Grammar> grammar;
  std::string grammar_key;

  bool stream = false;         // "stream"
  bool include_usage = false;  // "stream_options.include_usage"; stream_options needs stream

  // "max_tokens" or "max_completion_tokens" (both given and different -> 400); >= 1.
  // Absent: as much as the context allows (resolve_max_tokens).
  std::optional<int32_t> max_tokens;

  // temperature [0, 2] (default 1), top_p [0, 1] (default 1), top_k >= 0 (-1 is accepted
  // as "off", as vLLM does, and stored as 0), min_p [0, 1], presence_penalty and
  // frequency_penalty [-2, 2], repetition_penalty > 0. sampling.seed = seed or 0.
  SamplingParams sampling;
  // "seed" (any 64-bit integer; negatives wrap to uint64). Absent: the caller picks one.
  std::optional<uint64_t> seed;

  std::vector<std::string> stop;        // "stop": a string or up to 4, each non-empty
  std::vector<int32_t> stop_token_ids;  // "stop_token_ids" (vLLM extension), each >= 0
  bool ignore_eos = false;              // "ignore_eos" (vLLM extension)
  bool spec_decode = true;              // "spec_decode" (extension): false = no speculative proposals for this request

  // Number of top alternatives to report per token, -1 = no logprobs.
  // completion: "logprobs" int 0..20. chat: "logprobs" true, then "top_logprobs" 0..20
  // (default 0); top_logprobs without logprobs true -> 400.
  int32_t logprobs = -1;
  bool echo = false;  // completion "echo": prepend the prompt to the returned text

  int32_t n = 1;           // "n": only 1 is supported (anything else -> 400)
  std::string user;        // "user", passed through
  std::string session_id;  // "session_id" (extension), passed through for prefix caching
  // "return_token_ids" (extension, vLLM's name): each choice carries "token_ids" (the
  // generated ids it covers) and the first one "prompt_token_ids" (the prompt as the
  // server tokenized it). The router's mid-stream failover resumes from them.
  bool return_token_ids = false;
};

using ParseResult = std::variant<ApiRequest, ApiError>;

// POST /v1/completions body.
ParseResult parse_completion_request(std::string_view body);
// POST /v1/chat/completions body.
ParseResult parse_chat_request(std::string_view body);

// After tokenization: the number of tokens to generate for a prompt of prompt_tokens
// tokens in a context of n_ctx positions. max_tokens absent -> n_ctx - prompt_tokens.
// Errors (400): an empty prompt (param prompt / messages); a prompt that leaves no room
// to generate (prompt_tokens >= n_ctx: code "context_length_exceeded", param prompt /
// messages); prompt_tokens + max_tokens > n_ctx (same code, param max_tokens).
std::variant<int32_t, ApiError> resolve_max_tokens(const ApiRequest& req, size_t prompt_tokens,
                                                   size_t n_ctx);

}  // namespace shardlm::http
