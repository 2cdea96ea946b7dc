// StreamRelay: the router's view of one streamed generation (SSE) on its way to the
// client, and what lets it move the stream to another backend mid-way (failover).
//
// Upstream chunks are asked for with the server's "return_token_ids" extension, so each
// carries "token_ids" and the first one "prompt_token_ids". The relay records them and
// takes them out again unless the client asked for them itself. When the backend fails
// after bytes reached the client, continuation() builds a /v1/completions request whose
// prompt is the prompt ids plus every id generated so far (max_tokens reduced by as
// many), so the next backend goes on from the same point without re-tokenizing.
// During a continuation, its chunks are rewritten to look like the original stream: the
// original id, created and model; chat streams get chat.completion.chunk deltas;
// chunks with nothing new are dropped; the usage chunk counts the original prompt and
// all generated tokens. Greedy text is then the text of an uninterrupted run.
//
// Known limit: text the failed backend still held back (an incomplete UTF-8 sequence, a
// possible stop string) when it died is lost; its tokens are not repeated.
//
// Pure (no sockets, no threads): the proxy feeds it bytes and writes what it returns.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "shardlm/client/sse-parser.h"

namespace shardlm::router {

class StreamRelay {
 public:
  // chat: the client called /v1/chat/completions. client_wants_ids: its own request set
  // return_token_ids (then the fields are left in).
  StreamRelay(bool chat, bool client_wants_ids) : chat_(chat), client_wants_ids_(client_wants_ids) {}

  // Bytes of the current upstream body; appends what the client should get to out (whole
  // SSE events, "data: ...\n\n").
  void feed(std::string_view bytes, std::vector<std::string>& out);
  // The upstream body ended: an event without its blank line is still handled.
  void finish(std::vector<std::string>& out);

  bool done() const { return done_; }      // [DONE] seen
  bool broken() const { return !error_event_.empty(); }  // the backend sent an error event
  const std::string& error_event() const { return error_event_; }  // that event, as received
  size_t generated() const { return generated_.size(); }
  bool has_prompt_ids() const { return !prompt_ids_.empty(); }

  // The body of a POST /v1/completions that continues the stream (see above), from the
  // client's original request body; nullopt when it cannot (no prompt ids seen, or no
  // tokens left to generate).
  std::optional<std::string> continuation(const nlohmann::ordered_json& original) const;
  // A new upstream stream (the continuation) begins.
  void begin_continuation();

 private:
  void on_event(const std::string& data, std::vector<std::string>& out);
  void take_ids(nlohmann::ordered_json& choice, bool strip);
  std::string rewrite(nlohmann::ordered_json& j);  // a continuation chunk in the original stream's shape; "" = drop

  const bool chat_;
  const bool client_wants_ids_;
  client::SseParser parser_;
  bool continuing_ = false;
  bool done_ = false;
  std::string error_event_;
  std::vector<int32_t> prompt_ids_;
  std::vector<int32_t> generated_;
  size_t base_generated_ = 0;  // generated before the current continuation began
  bool have_meta_ = false;
  nlohmann::ordered_json id_, created_, model_;  // of the original stream
};

}  // namespace shardlm::router
