#include "shardlm/http/openai-request.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "http/openai-constraint.h"
#include "http/openai-tools.h"

namespace shardlm::http {

namespace {

using json = nlohmann::json;
using Err = std::optional<ApiError>;

// Returns the error from an Err-returning call, if any.
#define OPENAI_TRY(expr)              \
  do {                                \
    if (Err _e = (expr)) return *_e;  \
  } while (0)

ApiError bad(std::string param, std::string message) { return bad_request(std::move(message), std::move(param)); }

// Offset of the first byte that is not part of well-formed UTF-8 (no overlongs, no
// surrogates, nothing above U+10FFFF), or npos.
size_t utf8_invalid_at(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) { ++i; continue; }
    size_t len = 0;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b >= 0xC2 && b <= 0xDF) len = 2;
    else if (b == 0xE0) { len = 3; lo = 0xA0; }
    else if (b == 0xED) { len = 3; hi = 0x9F; }
    else if (b >= 0xE1 && b <= 0xEF) len = 3;
    else if (b == 0xF0) { len = 4; lo = 0x90; }
    else if (b >= 0xF1 && b <= 0xF3) len = 4;
    else if (b == 0xF4) { len = 4; hi = 0x8F; }
    else return i;
    if (i + len > s.size()) return i;
    const auto b1 = static_cast<uint8_t>(s[i + 1]);
    if (b1 < lo || b1 > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      const auto bk = static_cast<uint8_t>(s[i + k]);
      if (bk < 0x80 || bk > 0xBF) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    default: return "unknown";
  }
}

// The value of `key` in object o; nullptr when absent or null.
const json* field(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

// A number as the client wrote it, for messages.
std::string num_text(const json& v) {
  if (v.is_number_float() && !std::isfinite(v.get<double>())) return "a non-finite number";
  return v.dump();
}

ApiError wrong_type(const std::string& param, const char* want, const json& got) {
  return bad(param, fmt::format("'{}' must be {}, got {}", param, want, type_name(got)));
}

// An integer value (also an integral float) that fits in int64.
std::optional<int64_t> as_int64(const json& v) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<int64_t>();
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 is exactly representable; [-2^63, 2^63) converts without overflow.
    if (std::isfinite(d) && d == std::floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
      return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

// Optional integer field within [lo, hi]; out untouched when absent or null.
Err get_int(const json& o, const char* key, int64_t lo, int64_t hi, std::optional<int64_t>& out,
            std::string_view range_text) {
  const json* v = field(o, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) return wrong_type(key, "an integer", *v);
  std::optional<int64_t> x = as_int64(*v);
  if (!x || *x < lo || *x > hi)
    return bad(key, fmt::format("'{}' must be an integer {}, got {}", key, range_text, num_text(*v)));
  out = x;
  return std::nullopt;
}

// Optional finite number field within [lo, hi] (lo_open: lo itself excluded).
Err get_float(const json& o, const char* key, double lo, double hi, bool lo_open, float& out,
              std::string_view range_text) {
  const json* v = field(o, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) return wrong_type(key, "a number", *v);
  const double d = v->get<double>();
  if (!std::isfinite(d) || d > hi || d < lo || (lo_open && d == lo))
    return bad(key, fmt::format("'{}' must be a number {}, got {}", key, range_text, num_text(*v)));
  out = static_cast<float>(d);
  return std::nullopt;
}

Err get_bool(const json& o, const char* key, bool& out) {
  const json* v = field(o, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) return wrong_type(key, "a boolean", *v);
  out = v->get<bool>();
  return std::nullopt;
}

Err get_string(const json& o, const char* key, std::string& out) {
  const json* v = field(o, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) return wrong_type(key, "a string", *v);
  out = v->get<std::string>();
  return std::nullopt;
}

// A token id array element: an integer in [0, INT32_MAX].
Err token_id(const json& v, const std::string& param, int32_t& out) {
  std::optional<int64_t> x = v.is_number() ? as_int64(v) : std::nullopt;
  if (!x || *x < 0 || *x > std::numeric_limits<int32_t>::max())
    return bad(param, fmt::format("'{}' must be a token id (an integer >= 0), got {}", param,
                                  v.is_number() ? num_text(v) : std::string(type_name(v))));
  out = static_cast<int32_t>(*x);
  return std::nullopt;
}

Err token_array(const json& arr, const std::string& param, std::vector<int32_t>& out) {
  out.reserve(arr.size());
  for (size_t k = 0; k < arr.size(); ++k) {
    int32_t id = 0;
    OPENAI_TRY(token_id(arr[k], fmt::format("{}[{}]", param, k), id));
    out.push_back(id);
  }
  return std::nullopt;
}

// Malformed JSON, invalid UTF-8 or a non-object body -> 400; else j is the object.
Err parse_body(std::string_view body, json& j) {
  if (size_t at = utf8_invalid_at(body); at != std::string_view::npos)
    return bad("", fmt::format("request body is not valid UTF-8 (byte {})", at));
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    std::string_view what = e.what();  // "[json.exception.parse_error.101] parse error at ..."
    if (size_t p = what.find("] "); p != std::string_view::npos) what.remove_prefix(p + 2);
    return bad("", fmt::format("malformed JSON: {}", what));
  }
  if (!j.is_object()) return bad("", fmt::format("request body must be a JSON object, got {}", type_name(j)));
  return std::nullopt;
}

// "prompt": string | [int] | [string] | [[int]].
Err parse_prompt(const json& o, std::vector<PromptInput>& out) {
  const json* p = field(o, "prompt");
  if (!p) return bad("prompt", "'prompt' is required");
  const char* want = "a string, an array of token ids, an array of strings or an array of token id arrays";
  if (p->is_string()) {
    out.push_back({p->get<std::string>(), {}, false});
    return std::nullopt;
  }
  if (!p->is_array()) return wrong_type("prompt", want, *p);
  if (p->empty()) return bad("prompt", "'prompt' must not be an empty array");
  const json& first = (*p)[0];
  if (first.is_number()) {  // one prompt of token ids
    PromptInput in;
    in.is_tokens = true;
    OPENAI_TRY(token_array(*p, "prompt", in.tokens));
    out.push_back(std::move(in));
    return std::nullopt;
  }
  if (!first.is_string() && !first.is_array()) return wrong_type("prompt[0]", "a string, a token id or an array of token ids", first);
  for (size_t i = 0; i < p->size(); ++i) {
    const json& e = (*p)[i];
    const std::string param = fmt::format("prompt[{}]", i);
    if (first.is_string()) {
      if (!e.is_string()) return wrong_type(param, "a string (as prompt[0])", e);
      out.push_back({e.get<std::string>(), {}, false});
    } else {
      if (!e.is_array()) return wrong_type(param, "an array of token ids (as prompt[0])", e);
      PromptInput in;
      in.is_tokens = true;
      OPENAI_TRY(token_array(e, param, in.tokens));
      out.push_back(std::move(in));
    }
  }
  return std::nullopt;
}

// One message's "content": string | [{type: "text", text}] | null (assistant only).
Err parse_content(const json& m, const std::string& param, const std::string& role, std::string& out) {
  const json* c = field(m, "content");
  if (!c) {
    if (role == "assistant") return std::nullopt;  // e.g. a tool-call turn: no text
    return bad(param, fmt::format("'{}' is required for role '{}'", param, role));
  }
  if (c->is_string()) {
    out = c->get<std::string>();
    return std::nullopt;
  }
  if (!c->is_array()) return wrong_type(param, "a string or an array of content parts", *c);
  for (size_t j = 0; j < c->size(); ++j) {
    const json& part = (*c)[j];
    const std::string pparam = fmt::format("{}[{}]", param, j);
    if (!part.is_object()) return wrong_type(pparam, "an object", part);
    const json* type = field(part, "type");
    if (!type) return bad(pparam + ".type", fmt::format("'{}.type' is required", pparam));
    if (!type->is_string()) return wrong_type(pparam + ".type", "a string", *type);
    if (type->get<std::string>() != "text")
      return bad(pparam + ".type", fmt::format("content part type '{}' is not supported (only 'text')",
                                               type->get<std::string>()));
    const json* text = field(part, "text");
    if (!text) return bad(pparam + ".text", fmt::format("'{}.text' is required", pparam));
    if (!text->is_string()) return wrong_type(pparam + ".text", "a string", *text);
    if (j > 0) out += '\n';
    out += text->get<std::string>();
  }
  return std::nullopt;
}

Err parse_messages(const json& o, std::vector<ApiMessage>& out) {
  const json* ms = field(o, "messages");
  if (!ms) return bad("messages", "'messages' is required");
  if (!ms->is_array()) return wrong_type("messages", "an array", *ms);
  if (ms->empty()) return bad("messages", "'messages' must contain at least one message");
  for (size_t i = 0; i < ms->size(); ++i) {
    const json& m = (*ms)[i];
    const std::string param = fmt::format("messages[{}]", i);
    if (!m.is_object()) return wrong_type(param, "an object", m);
    ApiMessage msg;
    const json* role = field(m, "role");
    if (!role) return bad(param + ".role", fmt::format("'{}.role' is required", param));
    if (!role->is_string()) return wrong_type(param + ".role", "a string", *role);
    msg.role = role->get<std::string>();
    if (msg.role != "system" && msg.role != "developer" && msg.role != "user" && msg.role != "assistant" &&
        msg.role != "tool")
      return bad(param + ".role",
                 fmt::format("'{}.role' must be one of system, developer, user, assistant, tool; got '{}'",
                             param, msg.role));
    OPENAI_TRY(parse_content(m, param + ".content", msg.role, msg.content));
    OPENAI_TRY(detail::parse_message_tools(m, param, msg));
    if (const json* name = field(m, "name")) {
      if (!name->is_string()) return wrong_type(param + ".name", "a string", *name);
      msg.name = name->get<std::string>();
    }
    out.push_back(std::move(msg));
  }
  return std::nullopt;
}

// "stop": string | [string] (at most 4, each non-empty).
Err parse_stop(const json& o, std::vector<std::string>& out) {
  const json* s = field(o, "stop");
  if (!s) return std::nullopt;
  if (s->is_string()) {
    if (s->get_ref<const std::string&>().empty()) return bad("stop", "'stop' must not be an empty string");
    out.push_back(s->get<std::string>());
    return std::nullopt;
  }
  if (!s->is_array()) return wrong_type("stop", "a string or an array of strings", *s);
  if (s->size() > 4) return bad("stop", fmt::format("'stop' may hold at most 4 sequences, got {}", s->size()));
  for (size_t i = 0; i < s->size(); ++i) {
    const json& e = (*s)[i];
    const std::string param = fmt::format("stop[{}]", i);
    if (!e.is_string()) return wrong_type(param, "a string", e);
    if (e.get_ref<const std::string&>().empty()) return bad(param, fmt::format("'{}' must not be empty", param));
    out.push_back(e.get<std::string>());
  }
  return std::nullopt;
}

// "seed": any integer that fits in 64 bits; negatives wrap to uint64.
Err parse_seed(const json& o, std::optional<uint64_t>& out) {
  const json* v = field(o, "seed");
  if (!v) return std::nullopt;
  if (!v->is_number()) return wrong_type("seed", "an integer", *v);
  if (v->is_number_unsigned()) {
    out = v->get<uint64_t>();
    return std::nullopt;
  }
  std::optional<int64_t> x = as_int64(*v);
  if (!x) return bad("seed", fmt::format("'seed' must be a 64-bit integer, got {}", num_text(*v)));
  out = static_cast<uint64_t>(*x);
  return std::nullopt;
}

// Fields both endpoints share.
Err parse_common(const json& o, ApiRequest& r) {
  OPENAI_TRY(get_string(o, "model", r.model));
  OPENAI_TRY(get_bool(o, "stream", r.stream));
  if (const json* so = field(o, "stream_options")) {
    if (!so->is_object()) return wrong_type("stream_options", "an object", *so);
    if (!r.stream) return bad("stream_options", "'stream_options' is only allowed when 'stream' is true");
    if (const json* iu = field(*so, "include_usage")) {
      if (!iu->is_boolean()) return wrong_type("stream_options.include_usage", "a boolean", *iu);
      r.include_usage = iu->get<bool>();
    }
  }

  constexpr int64_t i32max = std::numeric_limits<int32_t>::max();
  std::optional<int64_t> mt, mct;
  OPENAI_TRY(get_int(o, "max_tokens", 1, i32max, mt, "in [1, 2147483647]"));
  OPENAI_TRY(get_int(o, "max_completion_tokens", 1, i32max, mct, "in [1, 2147483647]"));
  if (mt && mct && *mt != *mct)
    return bad("max_completion_tokens",
               fmt::format("'max_tokens' ({}) and 'max_completion_tokens' ({}) disagree", *mt, *mct));
  if (mt || mct) r.max_tokens = static_cast<int32_t>(mt ? *mt : *mct);

  SamplingParams& sp = r.sampling;
  OPENAI_TRY(get_float(o, "temperature", 0.0, 2.0, false, sp.temperature, "in [0, 2]"));
  OPENAI_TRY(get_float(o, "top_p", 0.0, 1.0, false, sp.top_p, "in [0, 1]"));
  OPENAI_TRY(get_float(o, "min_p", 0.0, 1.0, false, sp.min_p, "in [0, 1]"));
  OPENAI_TRY(get_float(o, "presence_penalty", -2.0, 2.0, false, sp.presence_penalty, "in [-2, 2]"));
  OPENAI_TRY(get_float(o, "frequency_penalty", -2.0, 2.0, false, sp.frequency_penalty, "in [-2, 2]"));
  OPENAI_TRY(get_float(o, "repetition_penalty", 0.0, std::numeric_limits<double>::max(), true,
                       sp.repetition_penalty, "> 0"));
  std::optional<int64_t> top_k;
  OPENAI_TRY(get_int(o, "top_k", -1, i32max, top_k, ">= 0 (or -1 for off)"));
  if (top_k) sp.top_k = static_cast<int32_t>(*top_k < 0 ? 0 : *top_k);
  OPENAI_TRY(parse_seed(o, r.seed));
  sp.seed = r.seed.value_or(0);

  OPENAI_TRY(parse_stop(o, r.stop));
  if (const json* ids = field(o, "stop_token_ids")) {
    if (!ids->is_array()) return wrong_type("stop_token_ids", "an array of token ids", *ids);
    OPENAI_TRY(token_array(*ids, "stop_token_ids", r.stop_token_ids));
  }
  OPENAI_TRY(get_bool(o, "ignore_eos", r.ignore_eos));
  OPENAI_TRY(get_bool(o, "spec_decode", r.spec_decode));

  std::optional<int64_t> n, best_of;
  OPENAI_TRY(get_int(o, "n", 1, 1, n, "equal to 1 (only one choice per prompt is supported)"));
  OPENAI_TRY(get_int(o, "best_of", 1, 1, best_of, "equal to 1 (best_of is not supported)"));
  if (const json* lb = field(o, "logit_bias")) {
    if (!lb->is_object()) return wrong_type("logit_bias", "an object", *lb);
    if (!lb->empty()) return bad("logit_bias", "'logit_bias' is not supported");
  }
  OPENAI_TRY(detail::parse_response_format(o, r));
  OPENAI_TRY(get_string(o, "user", r.user));
  OPENAI_TRY(get_string(o, "session_id", r.session_id));
  OPENAI_TRY(get_bool(o, "return_token_ids", r.return_token_ids));
  return std::nullopt;
}

// Last line of defence: the ranges above should make this unreachable.
Err check_sampling(const ApiRequest& r) {
  if (Status st = r.sampling.validate(); !st.is_ok()) return bad("", st.message());
  return std::nullopt;
}

}  // namespace

ParseResult parse_completion_request(std::string_view body) {
  json o;
  OPENAI_TRY(parse_body(body, o));
  ApiRequest r;
  r.kind = ApiKind::completion;
  OPENAI_TRY(parse_prompt(o, r.prompts));
  OPENAI_TRY(parse_common(o, r));
  std::optional<int64_t> lp;
  OPENAI_TRY(get_int(o, "logprobs", 0, 20, lp, "in [0, 20]"));
  if (lp) r.logprobs = static_cast<int32_t>(*lp);
  OPENAI_TRY(get_bool(o, "echo", r.echo));
  if (r.echo && r.logprobs >= 0)
    return bad("echo", "'echo' together with 'logprobs' is not supported (it needs prompt logprobs)");
  std::string suffix;
  OPENAI_TRY(get_string(o, "suffix", suffix));
  if (!suffix.empty()) return bad("suffix", "'suffix' is not supported");
  OPENAI_TRY(check_sampling(r));
  return r;
}

ParseResult parse_chat_request(std::string_view body) {
  json o;
  OPENAI_TRY(parse_body(body, o));
  ApiRequest r;
  r.kind = ApiKind::chat;
  OPENAI_TRY(parse_messages(o, r.messages));
  OPENAI_TRY(detail::parse_tools(o, r));
  OPENAI_TRY(parse_common(o, r));
  OPENAI_TRY(detail::build_tool_call_grammar(r));  // after response_format: a forced call wins
  bool logprobs = false;
  OPENAI_TRY(get_bool(o, "logprobs", logprobs));
  std::optional<int64_t> top;
  OPENAI_TRY(get_int(o, "top_logprobs", 0, 20, top, "in [0, 20]"));
  if (top && !logprobs) return bad("top_logprobs", "'top_logprobs' needs 'logprobs' set to true");
  if (logprobs) r.logprobs = static_cast<int32_t>(top.value_or(0));
  OPENAI_TRY(check_sampling(r));
  return r;
}

std::variant<int32_t, ApiError> resolve_max_tokens(const ApiRequest& req, size_t prompt_tokens, size_t n_ctx) {
  const char* pparam = req.kind == ApiKind::chat ? "messages" : "prompt";
  if (prompt_tokens == 0) return bad(pparam, "the prompt is empty (0 tokens)");
  if (prompt_tokens >= n_ctx) {
    ApiError e = bad(pparam, fmt::format("the prompt is {} tokens but the model's context is {} tokens, "
                                         "leaving no room to generate", prompt_tokens, n_ctx));
    e.code = "context_length_exceeded";
    return e;
  }
  const size_t room = n_ctx - prompt_tokens;
  if (!req.max_tokens) {
    return static_cast<int32_t>(std::min<size_t>(room, std::numeric_limits<int32_t>::max()));
  }
  const auto want = static_cast<size_t>(*req.max_tokens);
  if (want > room) {
    ApiError e = bad("max_tokens", fmt::format("the prompt ({} tokens) plus max_tokens ({}) is {} tokens, "
                                               "more than the model's context of {} tokens",
                                               prompt_tokens, want, prompt_tokens + want, n_ctx));
    e.code = "context_length_exceeded";
    return e;
  }
  return *req.max_tokens;
}

#undef OPENAI_TRY

}  // namespace shardlm::http
