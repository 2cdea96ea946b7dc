// OpenAI API responses: native results -> JSON text, whole responses and SSE chunks.
//
// Pure functions: no HTTP, no model, no threads; the HTTP thread that owns a request
// calls them. They never throw. JSON is compact (one line, keys in OpenAI's order);
// invalid UTF-8 in any text is replaced by U+FFFD, so a partial token never breaks it.
//
// Shapes (OpenAI API reference):
//   completion:  {id, object "text_completion", created, model,
//                 choices [{index, text, logprobs, finish_reason}], usage}
//     logprobs:  null | {tokens [str], token_logprobs [num], top_logprobs [{str: num}],
//                 text_offset [int]}; each top_logprobs map holds the alternatives and
//                 the chosen token (so up to k + 1 entries, as OpenAI documents).
//   chat:        {id, object "chat.completion", created, model,
//                 choices [{index, message {role "assistant", content,
//                 reasoning_content?, tool_calls?}, logprobs, finish_reason}], usage}
//     tool_calls: [{id, type "function", function {name, arguments (JSON text)}}];
//                 with calls and no text, content is null. reasoning_content only
//                 when there is reasoning text.
//     chunk delta: {role?, content?, reasoning_content?, tool_calls?: [{index, id?,
//                 type?, function {name?, arguments}}]} (id, type, name on a call's
//                 first delta only)
//     logprobs:  null | {content [{token, logprob, bytes [int],
//                 top_logprobs [{token, logprob, bytes}]}]}
//   streaming:   the same objects per chunk ("text_completion" / "chat.completion.chunk",
//                chat: delta {role?, content?} instead of message), finish_reason null
//                until the last chunk; with stream_options.include_usage every chunk has
//                "usage": null and a last chunk has choices [] and the usage.
//   usage:       {prompt_tokens, completion_tokens, total_tokens,
//                 prompt_tokens_details {cached_tokens}?}
// Log probabilities that are not finite or below -9999 are written as -9999.0 (JSON
// has no -infinity); floats are written with their shortest decimal form.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shardlm/http/openai-request.h"

namespace shardlm::http {

// Fields every response and chunk of one request repeats.
struct ResponseMeta {
  std::string id;       // make_response_id()
  int64_t created = 0;  // Unix seconds, the same for every chunk
  std::string model;    // the model name to report
};

// One sampled token with its log probability and the top alternatives.
struct TokenLogprob {
  std::string token;  // the token's raw bytes (may be a partial UTF-8 sequence)
  float logprob = 0.0f;
  std::vector<std::pair<std::string, float>> top;  // (raw bytes, logprob), most likely first
};

// One tool call of a chat answer, or its part in a chunk (see the shapes above).
struct ChoiceToolCall {
  int32_t index = 0;      // the call's position in the answer
  bool first = true;      // chunk: the call's first delta (id, type and name written)
  std::string id, name;
  std::string arguments;  // JSON text (chunk: the part to append)
};

// One choice of a response, or its new part in a streaming chunk.
struct ChoiceResult {
  int32_t index = 0;
  std::string text;           // whole text (response) or the new text (chunk)
  std::string reasoning;      // chat: reasoning_content (whole, or the new part)
  std::vector<ChoiceToolCall> tool_calls;  // chat: the calls (whole, or the new parts)
  std::string finish_reason;  // "stop" | "length" | "" = not finished (null)
  bool has_logprobs = false;  // the request asked for logprobs (else "logprobs": null)
  std::vector<TokenLogprob> logprobs;  // the tokens of `text`, in order
  // completions text_offset of logprobs[0]: characters (code points) returned before
  // it in this choice (streaming: over earlier chunks; echo: the prompt counts). Each
  // next offset adds the code points of the previous token's bytes.
  size_t text_offset = 0;
  // return_token_ids (extension): "token_ids" (the ids this choice or chunk covers, which
  // may run ahead of its text while text is held back) and, when non-empty,
  // "prompt_token_ids" after finish_reason.
  bool has_token_ids = false;
  std::vector<int32_t> token_ids;
  std::vector<int32_t> prompt_token_ids;
};

struct Usage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  std::optional<int32_t> cached_tokens;  // prompt tokens from the prefix cache; absent: no prompt_tokens_details
};

// "cmpl-" / "chatcmpl-" followed by 16 lower-case hex digits of `random`.
std::string make_response_id(ApiKind kind, uint64_t random);

// Non-streaming responses.
std::string completion_response_json(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices,
                                     const Usage& usage);
std::string chat_response_json(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices,
                               const Usage& usage);

// Streaming chunks for one choice. include_usage: the request set
// stream_options.include_usage, so the chunk carries "usage": null.
std::string completion_chunk_json(const ResponseMeta& meta, const ChoiceResult& choice, bool include_usage);
// first: the choice's first chunk, whose delta carries role "assistant" (and content,
// even ""); later chunks carry content only when text is non-empty (the last one may
// have delta {}); reasoning_content and tool_calls only when there are some. Logprobs in a chunk: null when the chunk has no tokens.
std::string chat_chunk_json(const ResponseMeta& meta, const ChoiceResult& choice, bool first,
                            bool include_usage);
// The include_usage chunk after the last choice chunk: choices [] and usage.
std::string usage_chunk_json(ApiKind kind, const ResponseMeta& meta, const Usage& usage);

// GET /v1/models.
struct ModelInfo {
  std::string id;
  int64_t created = 0;                // Unix seconds
  std::string owned_by = "shardlm";
  int64_t max_model_len = 0;          // > 0: reported as "max_model_len" (vLLM's field); 0 = omitted
};
std::string models_json(const std::vector<ModelInfo>& models);

// Server-sent events: "data: " + json + "\n\n" (json must be one line, as the
// builders above produce), and the terminator "data: [DONE]\n\n".
std::string sse_event(std::string_view json);
std::string sse_done();

}  // namespace shardlm::http
