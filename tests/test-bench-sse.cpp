// SSE parsing across arbitrary splits, and the server's chunk shapes.
#include <gtest/gtest.h>

#include "shardlm/bench/server-api.h"
#include "shardlm/bench/sse-parser.h"

using namespace shardlm::bench;

TEST(BenchSse, EventsAcrossPieces) {
  SseParser p;
  std::vector<SseEvent> ev;
  const auto t0 = Clock::time_point{} + std::chrono::seconds(1);
  const auto t1 = t0 + std::chrono::milliseconds(5), t2 = t0 + std::chrono::milliseconds(9);
  p.feed("da", t0, ev);
  p.feed("ta: x\r", t1, ev);
  EXPECT_TRUE(ev.empty());
  p.feed("\n\r\ndata: [DONE]\n\n", t2, ev);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].data, "x");
  EXPECT_EQ(ev[0].t, t2);  // the piece that completed it
  EXPECT_EQ(ev[1].data, "[DONE]");
}

TEST(BenchSse, FieldsCommentsAndLineEnds) {
  SseParser p;
  std::vector<SseEvent> ev;
  const auto t = Clock::now();
  p.feed(": keep-alive\n\n", t, ev);                 // comment only: no event
  p.feed("event: x\nid: 3\ndata: 1\ndata:2\n\n", t, ev);  // multi-line data, no space
  p.feed("data: a\r\rdata: b\r\r", t, ev);           // CR line ends
  p.feed("data:  two spaces\n\n", t, ev);            // only one space is dropped
  p.feed("data: tail", t, ev);
  p.finish(t, ev);
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[0].data, "1\n2");
  EXPECT_EQ(ev[1].data, "a");
  EXPECT_EQ(ev[2].data, "b");
  EXPECT_EQ(ev[3].data, " two spaces");
  EXPECT_EQ(ev[4].data, "tail");
}

TEST(BenchSse, ChunkShapes) {
  ChunkInfo c;
  ASSERT_TRUE(parse_chunk(R"({"choices":[{"index":0,"text":" there","finish_reason":null}],"usage":null})", c));
  EXPECT_EQ(c.text, " there");
  EXPECT_FALSE(c.has_usage);
  ASSERT_TRUE(parse_chunk(R"({"choices":[{"index":0,"text":"","finish_reason":"length"}],"usage":null})", c));
  EXPECT_EQ(c.finish_reason, "length");
  ASSERT_TRUE(parse_chunk(R"({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":2}}})", c));
  EXPECT_TRUE(c.has_usage);
  EXPECT_EQ(c.prompt_tokens, 5);
  EXPECT_EQ(c.completion_tokens, 6);
  EXPECT_EQ(c.cached_tokens, 2);
  ASSERT_TRUE(parse_chunk(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":"M"},"finish_reason":null}]})", c));
  EXPECT_EQ(c.text, "M");
  ASSERT_TRUE(parse_chunk(R"({"error":{"code":"service_unavailable","message":"deadline","param":null,"type":"x"}})", c));
  EXPECT_EQ(c.error, "deadline");
  EXPECT_FALSE(parse_chunk("not json", c));
  EXPECT_FALSE(parse_chunk("[1,2]", c));
}

TEST(BenchSse, UrlParsing) {
  auto u = parse_url("http://127.0.0.1:8080/");
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->base_path, "");
  u = parse_url("localhost/prefix/");
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->base_path, "/prefix");
  EXPECT_FALSE(parse_url("https://x").is_ok());
  EXPECT_FALSE(parse_url("http://x:port").is_ok());
  EXPECT_FALSE(parse_url("http://:80").is_ok());
}

TEST(BenchSse, RequestBody) {
  GenParams p;
  p.max_tokens = 8;
  const auto b = generation_body("hi", p);
  EXPECT_EQ(b["prompt"], "hi");
  EXPECT_EQ(b["stream"], true);
  EXPECT_EQ(b["stream_options"]["include_usage"], true);
  EXPECT_EQ(b["ignore_eos"], true);
  p.endpoint = "chat";
  p.stream = false;
  const auto c = generation_body("hi", p);
  EXPECT_EQ(c["messages"][0]["content"], "hi");
  EXPECT_FALSE(c.contains("stream_options"));
  EXPECT_STREQ(generation_path(p), "/v1/chat/completions");
}
