// StreamRelay: token ids taken out of SSE chunks, the continuation request, and a
// continuation's chunks rewritten into the original stream's shape.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "shardlm/router/stream-relay.h"

using namespace shardlm::router;
using json = nlohmann::ordered_json;

namespace {
std::string ev(const json& j) { return "data: " + j.dump() + "\n\n"; }
json parse_event(const std::string& s) {
  EXPECT_EQ(s.rfind("data: ", 0), 0u);
  return json::parse(s.substr(6));
}
}  // namespace

TEST(Relay, CompletionStreamStripsIdsAndContinues) {
  StreamRelay r(false, false);
  std::vector<std::string> out;
  json c1 = {{"id", "cmpl-1"}, {"object", "text_completion"}, {"created", 7}, {"model", "m"},
             {"choices", {{{"index", 0}, {"text", "Once"}, {"logprobs", nullptr}, {"finish_reason", nullptr},
                           {"token_ids", {10}}, {"prompt_token_ids", {1, 2, 3}}}}}};
  json c2 = c1;
  c2["choices"][0]["text"] = " upon";
  c2["choices"][0]["token_ids"] = {11, 12};
  c2["choices"][0].erase("prompt_token_ids");
  const std::string bytes = ev(c1) + ev(c2);
  r.feed(bytes.substr(0, 17), out);  // split anywhere
  r.feed(bytes.substr(17), out);
  ASSERT_EQ(out.size(), 2u);
  json o1 = parse_event(out[0]);
  EXPECT_FALSE(o1["choices"][0].contains("token_ids"));
  EXPECT_FALSE(o1["choices"][0].contains("prompt_token_ids"));
  EXPECT_EQ(o1["choices"][0]["text"], "Once");
  EXPECT_EQ(r.generated(), 3u);
  EXPECT_FALSE(r.done());

  json original = {{"model", "m"}, {"prompt", "Once upon a time"}, {"max_tokens", 20}, {"temperature", 0},
                   {"stream", true}, {"echo", true}, {"stop", {"\n"}}};
  auto next = r.continuation(original);
  ASSERT_TRUE(next.has_value());
  json n = json::parse(*next);
  EXPECT_EQ(n["prompt"], json({1, 2, 3, 10, 11, 12}));
  EXPECT_EQ(n["max_tokens"], 17);
  EXPECT_EQ(n["stop"], json({"\n"}));
  EXPECT_FALSE(n.contains("echo"));
  EXPECT_EQ(n["return_token_ids"], true);
  EXPECT_EQ(n["stream"], true);

  r.begin_continuation();
  out.clear();
  json d1 = {{"id", "cmpl-2"}, {"object", "text_completion"}, {"created", 9}, {"model", "m2"},
             {"choices", {{{"index", 0}, {"text", ""}, {"logprobs", nullptr}, {"finish_reason", nullptr},
                           {"token_ids", json::array()}, {"prompt_token_ids", {1, 2, 3, 10, 11, 12}}}}}};
  json d2 = d1;
  d2["choices"][0]["text"] = " a time";
  d2["choices"][0]["token_ids"] = {13, 14};
  d2["choices"][0].erase("prompt_token_ids");
  json d3 = d2;
  d3["choices"][0]["text"] = "";
  d3["choices"][0]["token_ids"] = json::array();
  d3["choices"][0]["finish_reason"] = "length";
  r.feed(ev(d1) + ev(d2) + ev(d3) + "data: [DONE]\n\n", out);
  ASSERT_EQ(out.size(), 3u);  // the empty first chunk is dropped
  json o2 = parse_event(out[0]);
  EXPECT_EQ(o2["id"], "cmpl-1");
  EXPECT_EQ(o2["created"], 7);
  EXPECT_EQ(o2["model"], "m");
  EXPECT_EQ(o2["choices"][0]["text"], " a time");
  EXPECT_FALSE(o2["choices"][0].contains("token_ids"));
  EXPECT_EQ(parse_event(out[1])["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(out[2], "data: [DONE]\n\n");
  EXPECT_TRUE(r.done());
  EXPECT_EQ(r.generated(), 5u);
}

TEST(Relay, ChatContinuationBecomesChatChunksWithUsageFixed) {
  StreamRelay r(true, false);
  std::vector<std::string> out;
  json c1 = {{"id", "chatcmpl-1"}, {"object", "chat.completion.chunk"}, {"created", 5}, {"model", "m"},
             {"choices", {{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", "Hi"}}}, {"logprobs", nullptr},
                           {"finish_reason", nullptr}, {"token_ids", {20}}, {"prompt_token_ids", {1, 5, 6, 7}}}}},
             {"usage", nullptr}};
  r.feed(ev(c1), out);
  ASSERT_EQ(out.size(), 1u);
  // The backend died with an error event: the relay notices and keeps it aside.
  r.feed("data: {\"error\":{\"message\":\"lost a rank\"}}\n\n", out);
  EXPECT_TRUE(r.broken());
  EXPECT_EQ(out.size(), 1u);
  json original = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_completion_tokens", 10},
                   {"temperature", 0}, {"seed", 3}, {"stream", true}, {"stream_options", {{"include_usage", true}}}};
  json n = json::parse(r.continuation(original).value());
  EXPECT_EQ(n["prompt"], json({1, 5, 6, 7, 20}));
  EXPECT_EQ(n["max_tokens"], 9);
  EXPECT_EQ(n["seed"], 3);
  EXPECT_FALSE(n.contains("messages"));
  EXPECT_EQ(n["stream_options"]["include_usage"], true);
  r.begin_continuation();
  EXPECT_FALSE(r.broken());
  out.clear();
  json d = {{"id", "cmpl-9"}, {"object", "text_completion"}, {"created", 6}, {"model", "m"},
            {"choices", {{{"index", 0}, {"text", " there"}, {"logprobs", nullptr}, {"finish_reason", "stop"},
                          {"token_ids", {21, 2}}}}},
            {"usage", nullptr}};
  json u = {{"id", "cmpl-9"}, {"object", "text_completion"}, {"created", 6}, {"model", "m"}, {"choices", json::array()},
            {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 2}, {"total_tokens", 7}}}};
  r.feed(ev(d) + ev(u) + "data: [DONE]\n\n", out);
  ASSERT_EQ(out.size(), 3u);
  json o = parse_event(out[0]);
  EXPECT_EQ(o["object"], "chat.completion.chunk");
  EXPECT_EQ(o["id"], "chatcmpl-1");
  EXPECT_EQ(o["choices"][0]["delta"], json({{"content", " there"}}));
  EXPECT_EQ(o["choices"][0]["finish_reason"], "stop");
  json us = parse_event(out[1]);
  EXPECT_EQ(us["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(us["usage"]["completion_tokens"], 3);
  EXPECT_EQ(us["usage"]["total_tokens"], 7);
  EXPECT_TRUE(r.done());
}

TEST(Relay, NoContinuationWithoutPromptIdsOrTokensLeft) {
  StreamRelay r(false, true);
  EXPECT_FALSE(r.continuation(json{{"prompt", "x"}}).has_value());
  std::vector<std::string> out;
  json c = {{"id", "c"}, {"choices", {{{"text", "a"}, {"token_ids", {4, 5}}, {"prompt_token_ids", {1}}}}}};
  r.feed(ev(c), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(parse_event(out[0])["choices"][0].contains("token_ids"));  // the client asked for them
  EXPECT_FALSE(r.continuation(json{{"prompt", "x"}, {"max_tokens", 2}}).has_value());
  EXPECT_TRUE(r.continuation(json{{"prompt", "x"}, {"max_tokens", 3}}).has_value());
}
