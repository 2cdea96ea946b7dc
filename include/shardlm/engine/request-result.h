// What the engine tells a request's owner, as neutral values (no JSON, no HTTP): text
// deltas, tokens, the finish with its reason and usage, or an error with its kind.
// The HTTP threads (app/serve-routes.cpp) turn them into OpenAI JSON or SSE chunks;
// `shardlm generate` prints the text. Made on the engine thread, moved through the
// request's ResultQueue (result-queue.h).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "shardlm/sched/sequence.h"

namespace shardlm {

// Why a request failed; the HTTP layer maps each kind to its status and OpenAI type.
enum class ErrorKind {
  none,
  invalid_request,  // 400 invalid_request_error (e.g. prompt + max_tokens over the context)
  rate_limited,     // 429 (the waiting queue is full, --max-queue)
  unavailable,      // 503 (no model ready, unloading, shutting down, a rank lost)
  timeout,          // 503 (a request deadline passed: --request-timeout-s, --first-token-timeout-s)
  internal,         // 500 (sampling found no finite logit)
};

struct RequestError {
  ErrorKind kind = ErrorKind::none;
  std::string message;  // for the client
  explicit operator bool() const { return kind != ErrorKind::none; }
};

// One generated token, for logprobs.
struct TokenOut {
  int32_t id = -1;
  float logprob = 0;                               // natural log of its probability
  std::vector<std::pair<int32_t, float>> top;      // most likely alternatives first (n_top of them)
};

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;  // generated tokens, an end-of-generation token included
  int cached_tokens = 0;      // prompt tokens served from the prefix cache
};

// Several events per request; the last one has done = true (and nothing follows it).
struct RequestEvent {
  std::string text;              // new text: complete UTF-8, stop strings removed
  std::vector<TokenOut> tokens;  // the tokens this event covers (only when logprobs were asked for)
  bool done = false;
  FinishReason finish = FinishReason::none;  // set when done
  RequestError error;            // set when the request failed (then finish == error or timeout)
  Usage usage;                   // set when done
  int32_t stop_token = -1;       // done by an end-of-generation or stop token: which one
  std::string stop_string;       // done by a stop string: which one
};

}  // namespace shardlm
