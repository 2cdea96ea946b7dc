#include "shardlm/router/stream-relay.h"

namespace shardlm::router {

using json = nlohmann::ordered_json;

namespace {
std::string sse(const json& j) {
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}
}  // namespace

void StreamRelay::feed(std::string_view bytes, std::vector<std::string>& out) {
  std::vector<client::SseEvent> events;
  parser_.feed(bytes, client::Clock::now(), events);
  for (const auto& e : events) on_event(e.data, out);
}

void StreamRelay::finish(std::vector<std::string>& out) {
  std::vector<client::SseEvent> events;
  parser_.finish(client::Clock::now(), events);
  for (const auto& e : events) on_event(e.data, out);
}

void StreamRelay::take_ids(json& choice, bool strip) {
  if (auto it = choice.find("token_ids"); it != choice.end() && it->is_array())
    for (const auto& t : *it)
      if (t.is_number_integer()) generated_.push_back(t.get<int32_t>());
  if (auto it = choice.find("prompt_token_ids"); it != choice.end() && it->is_array() && !continuing_) {
    prompt_ids_.clear();
    for (const auto& t : *it)
      if (t.is_number_integer()) prompt_ids_.push_back(t.get<int32_t>());
  }
  if (strip || continuing_) choice.erase("prompt_token_ids");
  if (strip) choice.erase("token_ids");
}

void StreamRelay::on_event(const std::string& data, std::vector<std::string>& out) {
  if (done_) return;
  if (data == "[DONE]") {
    done_ = true;
    out.push_back("data: [DONE]\n\n");
    return;
  }
  json j = json::parse(data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {  // not ours to judge: pass it on
    out.push_back("data: " + data + "\n\n");
    return;
  }
  if (j.contains("error")) {
    error_event_ = "data: " + data + "\n\n";
    return;
  }
  if (!continuing_) {
    if (!have_meta_) {
      id_ = j.value("id", json());
      created_ = j.value("created", json());
      model_ = j.value("model", json());
      have_meta_ = true;
    }
    if (auto it = j.find("choices"); it != j.end() && it->is_array())
      for (auto& c : *it)
        if (c.is_object()) take_ids(c, !client_wants_ids_);
    out.push_back(sse(j));
    return;
  }
  std::string s = rewrite(j);
  if (!s.empty()) out.push_back(std::move(s));
}

std::string StreamRelay::rewrite(json& j) {
  json res = json::object();
  res["id"] = id_;
  res["object"] = chat_ ? "chat.completion.chunk" : "text_completion";
  res["created"] = created_;
  res["model"] = model_;
  json choices = json::array();
  bool news = false;
  if (auto it = j.find("choices"); it != j.end() && it->is_array()) {
    for (auto& c : *it) {
      if (!c.is_object()) continue;
      const size_t before = generated_.size();
      take_ids(c, !client_wants_ids_);
      const std::string text = c.value("text", std::string());
      const json finish = c.value("finish_reason", json());
      if (!text.empty() || !finish.is_null() || (client_wants_ids_ && generated_.size() > before)) news = true;
      if (!chat_) {
        choices.push_back(c);
        continue;
      }
      json d = json::object();
      if (!text.empty()) d["content"] = text;
      json cc = {{"index", c.value("index", 0)}, {"delta", d}, {"logprobs", nullptr}, {"finish_reason", finish}};
      if (client_wants_ids_ && c.contains("token_ids")) cc["token_ids"] = c["token_ids"];
      choices.push_back(std::move(cc));
    }
  }
  res["choices"] = std::move(choices);
  if (auto u = j.find("usage"); u != j.end()) {
    json usage = *u;
    if (usage.is_object()) {
      const int64_t completion = usage.value("completion_tokens", int64_t{0}) + static_cast<int64_t>(base_generated_);
      const auto prompt = static_cast<int64_t>(prompt_ids_.size());
      usage["prompt_tokens"] = prompt;
      usage["completion_tokens"] = completion;
      usage["total_tokens"] = prompt + completion;
      news = true;
    }
    res["usage"] = usage;
  }
  return news ? sse(res) : std::string();
}

void StreamRelay::begin_continuation() {
  continuing_ = true;
  parser_ = client::SseParser{};
  error_event_.clear();
  base_generated_ = generated_.size();
}

std::optional<std::string> StreamRelay::continuation(const json& original) const {
  if (prompt_ids_.empty() || !original.is_object()) return std::nullopt;
  std::optional<int64_t> max_tokens;
  for (const char* k : {"max_tokens", "max_completion_tokens"})
    if (auto it = original.find(k); it != original.end() && it->is_number()) max_tokens = it->get<int64_t>();
  if (max_tokens) {
    *max_tokens -= static_cast<int64_t>(generated_.size());
    if (*max_tokens <= 0) return std::nullopt;
  }
  json body = json::object();
  if (chat_) {
    // The sampling and stopping fields of a chat request that completions share.
    for (const char* k : {"model", "temperature", "top_p", "top_k", "min_p", "seed", "stop", "stop_token_ids",
                          "ignore_eos", "presence_penalty", "frequency_penalty", "repetition_penalty", "user",
                          "session_id", "spec_decode", "stream_options"})
      if (auto it = original.find(k); it != original.end()) body[k] = *it;
  } else {
    body = original;
    body.erase("echo");
    body.erase("max_completion_tokens");
  }
  std::vector<int32_t> prompt = prompt_ids_;
  prompt.insert(prompt.end(), generated_.begin(), generated_.end());
  body["prompt"] = prompt;
  if (max_tokens) body["max_tokens"] = *max_tokens;
  else body.erase("max_tokens");
  body["stream"] = true;
  body["return_token_ids"] = true;
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace shardlm::router
