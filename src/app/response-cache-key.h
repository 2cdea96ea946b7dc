// Which requests the response cache (engine/response-cache.h) may answer, and the key
// that makes "the same request" exact (runs on HTTP threads; pure functions).
//
// Cacheable: deterministic requests only — temperature 0, or an explicit seed (then
// the sampled tokens are a function of the logits and the seed). Anything else, and
// `Cache-Control: no-store`, bypasses the cache. `Cache-Control: no-cache` computes
// afresh (no stored answer, no joining) and refreshes the stored answer.
//
// The key covers everything that can change the output:
//  - the route (completions or chat) and the prompt token ids after templating,
//  - a hash of the chat template in use (its name or text),
//  - the resolved max_tokens (an absent max_tokens depends on the context),
//  - the whole request body, canonical (keys sorted, no whitespace), without only the
//    fields that change the framing but not the events: "stream", "stream_options" and
//    "user". So every sampling field (an absent temperature differs from 0), seed, stop
//    strings, logprobs, tools, tool_choice, response_format, and any field a later
//    version reads is part of it: an unknown field makes a different key, never a
//    wrong answer.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shardlm/http/openai-request.h"

namespace shardlm {

struct ResponseCacheUse {
  bool use = false;   // look up / store this request
  bool read = true;   // false: Cache-Control no-cache (compute, then refresh)
  std::string key;    // when use
};

// cache_control: the request's Cache-Control field ("" if none). template_id: the chat
// template in use ("" for completions). body: the request body (valid JSON: already
// parsed into req).
ResponseCacheUse response_cache_use(http::ApiKind kind, const http::ApiRequest& req, std::string_view body,
                                    std::string_view cache_control, const std::vector<int32_t>& prompt,
                                    int32_t max_tokens, std::string_view template_id);

// The Cache-Control directives that matter here.
struct CacheControl {
  bool no_cache = false, no_store = false;
};
CacheControl parse_cache_control(std::string_view field);

}  // namespace shardlm
