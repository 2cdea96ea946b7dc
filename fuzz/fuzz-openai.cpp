// libFuzzer entry point for the OpenAI request parsers (http/openai-request.h): any body
// must parse into a request that keeps the documented ranges, or fail with a 400 error
// whose JSON is valid; never crash, throw or hang. The first input byte picks the
// endpoint (0: /v1/completions, 1: /v1/chat/completions); seeds: fuzz/make-seeds.py,
// folder openai/.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "shardlm/http/openai-request.h"

using namespace shardlm::http;

namespace {
void check_request(const ApiRequest& r) {
  if (r.kind == ApiKind::completion && r.prompts.empty()) std::abort();
  if (r.kind == ApiKind::chat && r.messages.empty()) std::abort();
  if (r.max_tokens && *r.max_tokens < 1) std::abort();
  if (r.logprobs < -1 || r.logprobs > 20) std::abort();
  if (r.stop.size() > 4) std::abort();
  for (const auto& s : r.stop)
    if (s.empty()) std::abort();
  for (int32_t t : r.stop_token_ids)
    if (t < 0) std::abort();
  for (const auto& p : r.prompts)
    for (int32_t t : p.tokens)
      if (t < 0) std::abort();
  if (r.n != 1) std::abort();
  // The server resolves the length against a context next.
  for (size_t prompt : {size_t{0}, size_t{5}, size_t{4096}}) {
    auto m = resolve_max_tokens(r, prompt, 2048);
    if (auto* n = std::get_if<int32_t>(&m); n && (*n < 1 || prompt + static_cast<size_t>(*n) > 2048)) std::abort();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  ParseResult r = data[0] % 2 == 0 ? parse_completion_request(body) : parse_chat_request(body);
  if (auto* req = std::get_if<ApiRequest>(&r)) {
    check_request(*req);
  } else {
    const ApiError& e = std::get<ApiError>(r);
    if (e.status != 400 || e.message.empty()) std::abort();
    if (!nlohmann::json::accept(e.to_json())) std::abort();  // the error body is valid JSON
  }
  return 0;
}
