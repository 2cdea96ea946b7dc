// The return_token_ids extension (the router's mid-stream failover reads it): parsed from
// both request kinds, and written into choices and chunks only when asked for.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "shardlm/http/openai-request.h"
#include "shardlm/http/openai-response.h"

using namespace shardlm::http;
using nlohmann::json;

TEST(HttpTokenIds, ParsedAndCheckedAsABool) {
  auto r = parse_completion_request(R"({"prompt":"x","return_token_ids":true})");
  ASSERT_TRUE(std::holds_alternative<ApiRequest>(r));
  EXPECT_TRUE(std::get<ApiRequest>(r).return_token_ids);
  auto d = parse_completion_request(R"({"prompt":"x"})");
  EXPECT_FALSE(std::get<ApiRequest>(d).return_token_ids);
  auto c = parse_chat_request(R"({"messages":[{"role":"user","content":"hi"}],"return_token_ids":true})");
  EXPECT_TRUE(std::get<ApiRequest>(c).return_token_ids);
  auto bad = parse_completion_request(R"({"prompt":"x","return_token_ids":"yes"})");
  ASSERT_TRUE(std::holds_alternative<ApiError>(bad));
  EXPECT_EQ(std::get<ApiError>(bad).status, 400);
  EXPECT_EQ(std::get<ApiError>(bad).param, "return_token_ids");
}

TEST(HttpTokenIds, OnlyWhenAskedFor) {
  ResponseMeta meta{"cmpl-1", 7, "m"};
  ChoiceResult c;
  c.text = "Once";
  json plain = json::parse(completion_chunk_json(meta, c, false));
  EXPECT_FALSE(plain["choices"][0].contains("token_ids"));
  EXPECT_FALSE(plain["choices"][0].contains("prompt_token_ids"));

  c.has_token_ids = true;
  c.token_ids = {10, 11};
  c.prompt_token_ids = {1, 2};
  json first = json::parse(completion_chunk_json(meta, c, false));
  EXPECT_EQ(first["choices"][0]["token_ids"], json({10, 11}));
  EXPECT_EQ(first["choices"][0]["prompt_token_ids"], json({1, 2}));
  c.prompt_token_ids.clear();
  json chat = json::parse(chat_chunk_json(meta, c, false, false));
  EXPECT_EQ(chat["choices"][0]["token_ids"], json({10, 11}));
  EXPECT_FALSE(chat["choices"][0].contains("prompt_token_ids"));  // later chunks: ids only
  c.token_ids.clear();
  json empty = json::parse(completion_chunk_json(meta, c, false));
  EXPECT_EQ(empty["choices"][0]["token_ids"], json::array());  // asked for: present even when empty
  json whole = json::parse(chat_response_json(meta, {c}, Usage{2, 2, std::nullopt}));
  EXPECT_TRUE(whole["choices"][0].contains("token_ids"));
}
