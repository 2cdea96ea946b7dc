// The server's endpoints as the benchmark uses them: one timed generation request into
// a RequestRecord, JSON/text GETs, /admin/load and /admin/unload.
// Threads: each call uses the client it is given (one client per thread).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "shardlm/bench/http-client.h"
#include "shardlm/bench/request-record.h"
#include "shardlm/core/status.h"

namespace shardlm::bench {

// Request body for prompt and params (completions: "prompt"; chat: one user message).
nlohmann::json generation_body(const std::string& prompt, const GenParams& p);
const char* generation_path(const GenParams& p);  // "/v1/completions" or "/v1/chat/completions"

// Sends one generation request and measures it; never fails: errors land in the
// record (http_status, error). Times are relative to run_start.
RequestRecord run_generation(HttpClient& client, const std::string& prompt, const GenParams& p,
                             const std::string& api_key, Clock::time_point run_start);
// Text of one streamed chunk's first choice ("text" or "delta.content"), finish_reason
// and usage; returns false when the data is not a JSON object. Exposed for tests.
struct ChunkInfo {
  std::string text;
  std::string finish_reason;     // "" while not finished
  bool has_usage = false;
  int prompt_tokens = -1, completion_tokens = -1, cached_tokens = -1;
  std::string error;             // an SSE error event's message
};
bool parse_chunk(const std::string& data, ChunkInfo& out);

Result<nlohmann::json> get_json(HttpClient& c, const std::string& path, const std::string& bearer);
Result<std::string> get_text(HttpClient& c, const std::string& path, const std::string& bearer);
// POST /admin/load (body {} or {"model": path}) or /admin/unload; error unless 200.
Status admin_post(HttpClient& c, const std::string& path, const std::string& bearer, const std::string& body = "");

}  // namespace shardlm::bench
