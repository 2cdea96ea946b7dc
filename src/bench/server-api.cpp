#include "shardlm/bench/server-api.h"

#include <fmt/format.h>

#include "shardlm/bench/sse-parser.h"

namespace shardlm::bench {

namespace {

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Error message of an OpenAI-style error body, or the body's start.
std::string error_text(int status, const std::string& body) {
  try {
    const auto j = nlohmann::json::parse(body);
    if (j.contains("error") && j["error"].is_object() && j["error"].contains("message"))
      return fmt::format("HTTP {}: {}", status, j["error"]["message"].get<std::string>());
  } catch (const std::exception&) {
  }
  return fmt::format("HTTP {}: {}", status, body.substr(0, 200));
}

void take_usage(const nlohmann::json& u, int& prompt, int& completion, int& cached) {
  if (!u.is_object()) return;
  if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer()) prompt = u["prompt_tokens"].get<int>();
  if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer())
    completion = u["completion_tokens"].get<int>();
  if (u.contains("prompt_tokens_details") && u["prompt_tokens_details"].is_object() &&
      u["prompt_tokens_details"].contains("cached_tokens") && u["prompt_tokens_details"]["cached_tokens"].is_number_integer())
    cached = u["prompt_tokens_details"]["cached_tokens"].get<int>();
}

}  // namespace

nlohmann::json generation_body(const std::string& prompt, const GenParams& p) {
  nlohmann::json b;
  if (p.endpoint == "chat")
    b["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", prompt}}});
  else
    b["prompt"] = prompt;
  b["max_tokens"] = p.max_tokens;
  b["temperature"] = p.temperature;
  b["ignore_eos"] = p.ignore_eos;
  if (p.seed) b["seed"] = *p.seed;
  if (!p.session_id.empty()) b["session_id"] = p.session_id;
  if (p.stream) {
    b["stream"] = true;
    b["stream_options"] = {{"include_usage", true}};
  }
  return b;
}

const char* generation_path(const GenParams& p) {
  return p.endpoint == "chat" ? "/v1/chat/completions" : "/v1/completions";
}

bool parse_chunk(const std::string& data, ChunkInfo& out) {
  out = ChunkInfo{};
  try {
    const auto j = nlohmann::json::parse(data);
    if (!j.is_object()) return false;
    if (j.contains("error")) {
      const auto& e = j["error"];
      out.error = e.is_object() && e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>()
                                                                                     : e.dump();
      return true;
    }
    if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
      const auto& c = j["choices"][0];
      if (c.contains("text") && c["text"].is_string()) out.text = c["text"].get<std::string>();
      if (c.contains("delta") && c["delta"].is_object() && c["delta"].contains("content") && c["delta"]["content"].is_string())
        out.text = c["delta"]["content"].get<std::string>();
      if (c.contains("finish_reason") && c["finish_reason"].is_string()) out.finish_reason = c["finish_reason"].get<std::string>();
    }
    if (j.contains("usage") && j["usage"].is_object()) {
      out.has_usage = true;
      take_usage(j["usage"], out.prompt_tokens, out.completion_tokens, out.cached_tokens);
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

RequestRecord run_generation(HttpClient& client, const std::string& prompt, const GenParams& p, const std::string& api_key,
                             Clock::time_point run_start) {
  RequestRecord r;
  r.endpoint = p.endpoint;
  r.stream = p.stream;
  r.prompt_chars = prompt.size();
  r.identity = identity_hash(prompt, p.to_json());
  const std::string body = generation_body(prompt, p).dump();
  SseParser sse;
  std::vector<SseEvent> events;
  bool done = false, bad_event = false;
  std::string stream_error;
  Clock::time_point first_send{};
  auto on_event = [&](const SseEvent& ev) {
    if (ev.data == "[DONE]") {
      done = true;
      return;
    }
    ChunkInfo ci;
    if (!parse_chunk(ev.data, ci)) {
      bad_event = true;
      return;
    }
    if (!ci.error.empty()) stream_error = ci.error;
    if (!ci.text.empty()) {
      r.text += ci.text;
      r.token_times_s.push_back(secs(ev.t - first_send));
      ++r.streamed_chunks;
    }
    if (!ci.finish_reason.empty()) {
      r.finish_reason = ci.finish_reason;
      r.last_token_s = secs(ev.t - first_send);
    }
    if (ci.has_usage) take_usage(nlohmann::json{{"prompt_tokens", ci.prompt_tokens}, {"completion_tokens", ci.completion_tokens},
                                                {"prompt_tokens_details", {{"cached_tokens", ci.cached_tokens}}}},
                                 r.prompt_tokens, r.completion_tokens, r.cached_tokens);
  };
  // The send time is known only inside the call; chunks arrive after it, so stamp
  // them raw and convert once the call returns.
  std::vector<std::pair<std::string, Clock::time_point>> raw;
  auto res = p.stream ? client.stream("POST", generation_path(p), body, api_key,
                                      [&](std::string_view bytes, Clock::time_point t) { raw.emplace_back(std::string(bytes), t); })
                      : client.request("POST", generation_path(p), body, api_key);
  if (!res) {
    r.error = res.message();
    r.send_s = secs(Clock::now() - run_start);
    compute_metrics(r);
    return r;
  }
  const HttpResponse& h = res.value();
  first_send = h.sent_at;
  r.send_s = secs(h.sent_at - run_start);
  r.total_s = secs(h.done_at - h.sent_at);
  r.http_status = h.status;
  if (h.status != 200) {
    r.error = error_text(h.status, h.body);
    if (auto it = h.headers.find("retry-after"); it != h.headers.end()) r.retry_after = it->second;
  } else if (p.stream) {
    for (const auto& [bytes, t] : raw) {
      events.clear();
      sse.feed(bytes, t, events);
      for (const auto& ev : events) on_event(ev);
    }
    events.clear();
    sse.finish(h.done_at, events);
    for (const auto& ev : events) on_event(ev);
    if (!stream_error.empty())
      r.error = "stream error event: " + stream_error;
    else if (bad_event)
      r.error = "a streamed event is not JSON";
    else if (!done)
      r.error = "the stream ended without [DONE]";
    else if (r.completion_tokens < 0)
      r.error = "no usage chunk in the stream";
    r.ok = r.error.empty();
  } else {
    try {
      const auto j = nlohmann::json::parse(h.body);
      if (j.contains("usage")) take_usage(j["usage"], r.prompt_tokens, r.completion_tokens, r.cached_tokens);
      if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty() && j["choices"][0].is_object()) {
        const auto& c = j["choices"][0];
        if (c.contains("finish_reason") && c["finish_reason"].is_string()) r.finish_reason = c["finish_reason"].get<std::string>();
        if (c.contains("text") && c["text"].is_string()) r.text = c["text"].get<std::string>();
        if (c.contains("message") && c["message"].is_object() && c["message"].contains("content") && c["message"]["content"].is_string())
          r.text = c["message"]["content"].get<std::string>();
      }
      r.last_token_s = r.total_s;
      r.ok = r.completion_tokens >= 0;
      if (!r.ok) r.error = "no usage in the response";
    } catch (const std::exception& e) {
      r.error = std::string("response is not JSON: ") + e.what();
    }
  }
  compute_metrics(r);
  return r;
}

static Result<HttpResponse> get_ok(HttpClient& c, const std::string& method, const std::string& path, const std::string& bearer,
                            const std::string& body) {
  auto r = c.request(method, path, body, bearer);
  if (!r) return r.status();
  if (r->status != 200) return Status::error(method + " " + path + ": " + error_text(r->status, r->body));
  return r;
}

Result<nlohmann::json> get_json(HttpClient& c, const std::string& path, const std::string& bearer) {
  auto r = get_ok(c, "GET", path, bearer, "");
  if (!r) return r.status();
  try {
    return nlohmann::json::parse(r->body);
  } catch (const std::exception& e) {
    return Status::errorf("GET {}: not JSON: {}", path, e.what());
  }
}

Result<std::string> get_text(HttpClient& c, const std::string& path, const std::string& bearer) {
  auto r = get_ok(c, "GET", path, bearer, "");
  if (!r) return r.status();
  return r->body;
}

Status admin_post(HttpClient& c, const std::string& path, const std::string& bearer, const std::string& body) {
  auto r = get_ok(c, "POST", path, bearer, body);
  return r ? Status::ok() : r.status();
}

}  // namespace shardlm::bench
