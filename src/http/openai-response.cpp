#include "shardlm/http/openai-response.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shardlm/tokenizer/utf8.h"

namespace shardlm::http {

namespace {

using ojson = nlohmann::ordered_json;  // keeps OpenAI's key order

std::string dump(const ojson& j) {
  // replace: invalid UTF-8 left in any string becomes U+FFFD instead of throwing.
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

// A token's bytes as valid UTF-8 (ill-formed parts -> U+FFFD).
std::string token_text(std::string_view raw) {
  std::string out;
  utf8_sanitize(raw, /*final=*/true, out);
  return out;
}

// A log probability for JSON: the float's shortest decimal form; -9999 for -inf / NaN
// or anything below it.
double lp_value(float x) {
  if (!std::isfinite(x) || x < -9999.0f) return -9999.0;
  const std::string s = fmt::format("{}", x);
  double d = x;
  std::from_chars(s.data(), s.data() + s.size(), d);
  return d;
}

// Code points in s: bytes that do not continue a sequence.
size_t count_chars(std::string_view s) {
  size_t n = 0;
  for (char ch : s)
    if ((static_cast<uint8_t>(ch) & 0xC0) != 0x80) ++n;
  return n;
}

ojson finish_value(const std::string& reason) { return reason.empty() ? ojson(nullptr) : ojson(reason); }

ojson usage_value(const Usage& u) {
  ojson j = ojson::object();
  j["prompt_tokens"] = u.prompt_tokens;
  j["completion_tokens"] = u.completion_tokens;
  j["total_tokens"] = static_cast<int64_t>(u.prompt_tokens) + u.completion_tokens;
  if (u.cached_tokens) j["prompt_tokens_details"] = ojson{{"cached_tokens", *u.cached_tokens}};
  return j;
}

// Completions format: {tokens, token_logprobs, top_logprobs, text_offset}.
ojson completion_logprobs(const ChoiceResult& c) {
  ojson tokens = ojson::array(), token_lps = ojson::array(), tops = ojson::array(), offsets = ojson::array();
  size_t offset = c.text_offset;
  for (const TokenLogprob& t : c.logprobs) {
    const std::string tok = token_text(t.token);
    tokens.push_back(tok);
    token_lps.push_back(lp_value(t.logprob));
    ojson top = ojson::object();
    for (const auto& [alt, lp] : t.top) {
      std::string key = token_text(alt);
      if (!top.contains(key)) top[key] = lp_value(lp);  // first (most likely) wins
    }
    if (!top.contains(tok)) top[tok] = lp_value(t.logprob);  // the chosen token is always there
    tops.push_back(std::move(top));
    offsets.push_back(offset);
    offset += count_chars(t.token);
  }
  ojson j = ojson::object();
  j["tokens"] = std::move(tokens);
  j["token_logprobs"] = std::move(token_lps);
  j["top_logprobs"] = std::move(tops);
  j["text_offset"] = std::move(offsets);
  return j;
}

ojson bytes_value(std::string_view raw) {
  ojson b = ojson::array();
  for (char ch : raw) b.push_back(static_cast<uint8_t>(ch));
  return b;
}

// Chat format: {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
ojson chat_logprobs(const ChoiceResult& c) {
  ojson content = ojson::array();
  for (const TokenLogprob& t : c.logprobs) {
    ojson top = ojson::array();
    for (const auto& [alt, lp] : t.top)
      top.push_back(ojson{{"token", token_text(alt)}, {"logprob", lp_value(lp)}, {"bytes", bytes_value(alt)}});
    ojson e = ojson::object();
    e["token"] = token_text(t.token);
    e["logprob"] = lp_value(t.logprob);
    e["bytes"] = bytes_value(t.token);
    e["top_logprobs"] = std::move(top);
    content.push_back(std::move(e));
  }
  return ojson{{"content", std::move(content)}};
}

// in_chunk: a chunk without tokens reports null.
ojson logprobs_value(ApiKind kind, const ChoiceResult& c, bool in_chunk) {
  if (!c.has_logprobs || (in_chunk && c.logprobs.empty())) return nullptr;
  return kind == ApiKind::chat ? chat_logprobs(c) : completion_logprobs(c);
}

ojson header(const ResponseMeta& meta, const char* object) {
  ojson j = ojson::object();
  j["id"] = meta.id;
  j["object"] = object;
  j["created"] = meta.created;
  j["model"] = meta.model;
  return j;
}

// The return_token_ids extension fields, after finish_reason.
void add_token_ids(ojson& choice, const ChoiceResult& c) {
  if (!c.has_token_ids) return;
  choice["token_ids"] = c.token_ids;
  if (!c.prompt_token_ids.empty()) choice["prompt_token_ids"] = c.prompt_token_ids;
}

ojson completion_choice(const ChoiceResult& c, bool in_chunk) {
  ojson j = ojson::object();
  j["index"] = c.index;
  j["text"] = c.text;
  j["logprobs"] = logprobs_value(ApiKind::completion, c, in_chunk);
  j["finish_reason"] = finish_value(c.finish_reason);
  add_token_ids(j, c);
  return j;
}

}  // namespace

std::string make_response_id(ApiKind kind, uint64_t random) {
  return fmt::format("{}{:016x}", kind == ApiKind::chat ? "chatcmpl-" : "cmpl-", random);
}

std::string completion_response_json(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices,
                                     const Usage& usage) {
  ojson j = header(meta, "text_completion");
  ojson cs = ojson::array();
  for (const ChoiceResult& c : choices) cs.push_back(completion_choice(c, false));
  j["choices"] = std::move(cs);
  j["usage"] = usage_value(usage);
  return dump(j);
}

namespace {

ojson tool_call_value(const ChoiceToolCall& t, bool chunk) {
  ojson j = ojson::object();
  if (chunk) j["index"] = t.index;
  if (!chunk || t.first) {
    j["id"] = t.id;
    j["type"] = "function";
  }
  ojson fn = ojson::object();
  if (!chunk || t.first) fn["name"] = t.name;
  fn["arguments"] = t.arguments;
  j["function"] = std::move(fn);
  return j;
}

ojson tool_calls_value(const std::vector<ChoiceToolCall>& calls, bool chunk) {
  ojson a = ojson::array();
  for (const auto& t : calls) a.push_back(tool_call_value(t, chunk));
  return a;
}

}  // namespace

std::string chat_response_json(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices,
                               const Usage& usage) {
  ojson j = header(meta, "chat.completion");
  ojson cs = ojson::array();
  for (const ChoiceResult& c : choices) {
    ojson choice = ojson::object();
    choice["index"] = c.index;
    ojson msg = ojson{{"role", "assistant"}, {"content", c.text}};
    if (!c.tool_calls.empty() && c.text.empty()) msg["content"] = nullptr;
    if (!c.reasoning.empty()) msg["reasoning_content"] = c.reasoning;
    if (!c.tool_calls.empty()) msg["tool_calls"] = tool_calls_value(c.tool_calls, false);
    choice["message"] = std::move(msg);
    choice["logprobs"] = logprobs_value(ApiKind::chat, c, false);
    choice["finish_reason"] = finish_value(c.finish_reason);
    add_token_ids(choice, c);
    cs.push_back(std::move(choice));
  }
  j["choices"] = std::move(cs);
  j["usage"] = usage_value(usage);
  return dump(j);
}

std::string completion_chunk_json(const ResponseMeta& meta, const ChoiceResult& choice, bool include_usage) {
  ojson j = header(meta, "text_completion");
  j["choices"] = ojson::array({completion_choice(choice, true)});
  if (include_usage) j["usage"] = nullptr;
  return dump(j);
}

std::string chat_chunk_json(const ResponseMeta& meta, const ChoiceResult& choice, bool first, bool include_usage) {
  ojson j = header(meta, "chat.completion.chunk");
  ojson delta = ojson::object();
  if (first) delta["role"] = "assistant";
  if (first || !choice.text.empty()) delta["content"] = choice.text;
  if (!choice.reasoning.empty()) delta["reasoning_content"] = choice.reasoning;
  if (!choice.tool_calls.empty()) delta["tool_calls"] = tool_calls_value(choice.tool_calls, true);
  ojson c = ojson::object();
  c["index"] = choice.index;
  c["delta"] = std::move(delta);
  c["logprobs"] = logprobs_value(ApiKind::chat, choice, true);
  c["finish_reason"] = finish_value(choice.finish_reason);
  add_token_ids(c, choice);
  j["choices"] = ojson::array({std::move(c)});
  if (include_usage) j["usage"] = nullptr;
  return dump(j);
}

std::string usage_chunk_json(ApiKind kind, const ResponseMeta& meta, const Usage& usage) {
  ojson j = header(meta, kind == ApiKind::chat ? "chat.completion.chunk" : "text_completion");
  j["choices"] = ojson::array();
  j["usage"] = usage_value(usage);
  return dump(j);
}

std::string models_json(const std::vector<ModelInfo>& models) {
  ojson data = ojson::array();
  for (const ModelInfo& m : models) {
    ojson e = ojson::object();
    e["id"] = m.id;
    e["object"] = "model";
    e["created"] = m.created;
    e["owned_by"] = m.owned_by;
    if (m.max_model_len > 0) e["max_model_len"] = m.max_model_len;
    data.push_back(std::move(e));
  }
  ojson j = ojson::object();
  j["object"] = "list";
  j["data"] = std::move(data);
  return dump(j);
}

std::string sse_event(std::string_view json) {
  std::string out;
  out.reserve(json.size() + 8);
  out += "data: ";
  out += json;
  out += "\n\n";
  return out;
}

std::string sse_done() { return "data: [DONE]\n\n"; }

}  // namespace shardlm::http
