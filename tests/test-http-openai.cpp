// OpenAI API mapping: request parsing/validation tables and response builders.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shardlm/http/openai-request.h"
#include "shardlm/http/openai-response.h"

using namespace shardlm::http;
using json = nlohmann::json;

namespace {

ParseResult parse(ApiKind kind, const std::string& body) {
  return kind == ApiKind::chat ? parse_chat_request(body) : parse_completion_request(body);
}

// ---------------------------------------------------------------- invalid requests

struct BadCase {
  ApiKind kind;
  std::string body;
  std::string param;    // expected ApiError::param
  std::string message;  // a substring of the expected message
};

constexpr ApiKind C = ApiKind::completion;
constexpr ApiKind H = ApiKind::chat;
const std::string kMsg = R"("messages": [{"role": "user", "content": "hi"}])";

const std::vector<BadCase> kBadCases = {
    // Body level: malformed, not an object, invalid UTF-8.
    {C, "", "", "malformed JSON"},
    {C, R"({"prompt": "a",)", "", "malformed JSON"},
    {C, R"({"prompt": "a"} x)", "", "malformed JSON"},
    {C, R"({"prompt": 'a'})", "", "malformed JSON"},
    {C, R"({"prompt": NaN})", "", "malformed JSON"},
    {C, R"([{"prompt": "a"}])", "", "must be a JSON object, got array"},
    {C, R"("prompt")", "", "must be a JSON object, got string"},
    {C, "{\"prompt\": \"a\xff\"}", "", "not valid UTF-8 (byte 13)"},
    {C, "{\"prompt\": \"\xc0\xaf\"}", "", "not valid UTF-8 (byte 12)"},          // overlong '/'
    {C, "{\"prompt\": \"\xed\xa0\x80\"}", "", "not valid UTF-8 (byte 12)"},      // UTF-8-encoded surrogate
    {C, "{\"prompt\": \"\xf4\x90\x80\x80\"}", "", "not valid UTF-8 (byte 12)"},  // above U+10FFFF
    {C, "{\"prompt\": \"ab\xe2\x82\"}", "", "not valid UTF-8 (byte 14)"},       // truncated
    {C, R"({"prompt": "\ud800"})", "", "malformed JSON"},                        // lone surrogate escape
    {H, "{\"messages\": [{\"role\": \"user\", \"content\": \"\x80\"}]}", "", "not valid UTF-8"},
    // prompt
    {C, R"({})", "prompt", "required"},
    {C, R"({"prompt": null})", "prompt", "required"},
    {C, R"({"prompt": 5})", "prompt", "got integer"},
    {C, R"({"prompt": {"text": "a"}})", "prompt", "got object"},
    {C, R"({"prompt": []})", "prompt", "empty array"},
    {C, R"({"prompt": [1, -2]})", "prompt[1]", "token id"},
    {C, R"({"prompt": [1, "a"]})", "prompt[1]", "token id"},
    {C, R"({"prompt": [1.5]})", "prompt[0]", "token id"},
    {C, R"({"prompt": [4294967296]})", "prompt[0]", "token id"},
    {C, R"({"prompt": [true]})", "prompt[0]", "got boolean"},
    {C, R"({"prompt": [null]})", "prompt[0]", "got null"},
    {C, R"({"prompt": ["a", 1]})", "prompt[1]", "must be a string"},
    {C, R"({"prompt": [[1], [2, -1]]})", "prompt[1][1]", "token id"},
    {C, R"({"prompt": [[1], "a"]})", "prompt[1]", "array of token ids"},
    {C, R"({"prompt": [[1, [2]]]})", "prompt[0][1]", "token id"},
    // Sampling ranges and types.
    {C, R"({"prompt": "a", "temperature": -0.1})", "temperature", "in [0, 2]"},
    {C, R"({"prompt": "a", "temperature": 2.5})", "temperature", "in [0, 2]"},
    {C, R"({"prompt": "a", "temperature": "1"})", "temperature", "must be a number, got string"},
    {C, R"({"prompt": "a", "temperature": true})", "temperature", "got boolean"},
    {C, R"({"prompt": "a", "temperature": 1e400})", "", "number overflow"},  // no infinities reach us
    {C, R"({"prompt": "a", "top_p": 1.5})", "top_p", "in [0, 1]"},
    {C, R"({"prompt": "a", "top_p": -0.01})", "top_p", "in [0, 1]"},
    {C, R"({"prompt": "a", "top_k": -2})", "top_k", ">= 0"},
    {C, R"({"prompt": "a", "top_k": 1.5})", "top_k", "integer"},
    {C, R"({"prompt": "a", "top_k": "5"})", "top_k", "got string"},
    {C, R"({"prompt": "a", "min_p": 2})", "min_p", "in [0, 1]"},
    {C, R"({"prompt": "a", "presence_penalty": 2.5})", "presence_penalty", "in [-2, 2]"},
    {C, R"({"prompt": "a", "frequency_penalty": -3})", "frequency_penalty", "in [-2, 2]"},
    {C, R"({"prompt": "a", "repetition_penalty": 0})", "repetition_penalty", "> 0"},
    {C, R"({"prompt": "a", "repetition_penalty": -1})", "repetition_penalty", "> 0"},
    {C, R"({"prompt": "a", "repetition_penalty": -1e400})", "", "number overflow"},
    {C, R"({"prompt": "a", "seed": "1"})", "seed", "got string"},
    {C, R"({"prompt": "a", "seed": 1.5})", "seed", "64-bit integer"},
    {C, R"({"prompt": "a", "seed": 1e30})", "seed", "64-bit integer"},
    // Lengths.
    {C, R"({"prompt": "a", "max_tokens": 0})", "max_tokens", "in [1, 2147483647]"},
    {C, R"({"prompt": "a", "max_tokens": -1})", "max_tokens", "in [1, 2147483647]"},
    {C, R"({"prompt": "a", "max_tokens": 1.5})", "max_tokens", "got 1.5"},
    {C, R"({"prompt": "a", "max_tokens": 3000000000})", "max_tokens", "in [1, 2147483647]"},
    {C, R"({"prompt": "a", "max_tokens": "10"})", "max_tokens", "got string"},
    {C, R"({"prompt": "a", "max_tokens": 10, "max_completion_tokens": 20})", "max_completion_tokens", "disagree"},
    {H, "{" + kMsg + R"(, "max_completion_tokens": 0})", "max_completion_tokens", "in [1, 2147483647]"},
    // Stop.
    {C, R"({"prompt": "a", "stop": ""})", "stop", "empty"},
    {C, R"({"prompt": "a", "stop": ["x", ""]})", "stop[1]", "empty"},
    {C, R"({"prompt": "a", "stop": [1]})", "stop[0]", "got integer"},
    {C, R"({"prompt": "a", "stop": ["a", "b", "c", "d", "e"]})", "stop", "at most 4"},
    {C, R"({"prompt": "a", "stop": 5})", "stop", "got integer"},
    {C, R"({"prompt": "a", "stop_token_ids": [3, -1]})", "stop_token_ids[1]", "token id"},
    {C, R"({"prompt": "a", "stop_token_ids": 3})", "stop_token_ids", "got integer"},
    {C, R"({"prompt": "a", "ignore_eos": 1})", "ignore_eos", "got integer"},
    {C, R"({"prompt": "a", "spec_decode": "no"})", "spec_decode", "got string"},
    // Streaming.
    {C, R"({"prompt": "a", "stream": "true"})", "stream", "got string"},
    {C, R"({"prompt": "a", "stream_options": {"include_usage": true}})", "stream_options", "only allowed"},
    {C, R"({"prompt": "a", "stream": false, "stream_options": {}})", "stream_options", "only allowed"},
    {C, R"({"prompt": "a", "stream": true, "stream_options": true})", "stream_options", "got boolean"},
    {C, R"({"prompt": "a", "stream": true, "stream_options": {"include_usage": 1}})",
     "stream_options.include_usage", "got integer"},
    // Completion logprobs / echo / suffix.
    {C, R"({"prompt": "a", "logprobs": 21})", "logprobs", "in [0, 20]"},
    {C, R"({"prompt": "a", "logprobs": -1})", "logprobs", "in [0, 20]"},
    {C, R"({"prompt": "a", "logprobs": true})", "logprobs", "got boolean"},
    {C, R"({"prompt": "a", "echo": true, "logprobs": 0})", "echo", "not supported"},
    {C, R"({"prompt": "a", "echo": "yes"})", "echo", "got string"},
    {C, R"({"prompt": "a", "suffix": "x"})", "suffix", "not supported"},
    {C, R"({"prompt": "a", "suffix": 3})", "suffix", "got integer"},
    // Unsupported features with non-default values; wrong types of known fields.
    {C, R"({"prompt": "a", "n": 2})", "n", "equal to 1"},
    {C, R"({"prompt": "a", "n": 0})", "n", "equal to 1"},
    {H, "{" + kMsg + R"(, "n": 3})", "n", "equal to 1"},
    {C, R"({"prompt": "a", "best_of": 2})", "best_of", "equal to 1"},
    {C, R"({"prompt": "a", "logit_bias": {"50256": -100}})", "logit_bias", "not supported"},
    {C, R"({"prompt": "a", "logit_bias": [1]})", "logit_bias", "got array"},
    {H, "{" + kMsg + R"(, "response_format": {"type": "yaml"}})", "response_format.type", "not supported"},
    {H, "{" + kMsg + R"(, "response_format": {}})", "response_format.type", "must be"},
    {H, "{" + kMsg + R"(, "response_format": {"type": "json_schema", "json_schema": {}}})",
     "response_format.json_schema.schema", "is required"},
    {H, "{" + kMsg + R"(, "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "string",
     "not": {"const": "a"}}}}})", "response_format.json_schema.schema", "unsupported JSON schema keyword 'not' at /"},
    {H, "{" + kMsg + R"(, "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object",
     "properties": {"a": {"uniqueItems": true}}}}}})", "response_format.json_schema.schema",
     "'uniqueItems' at /properties/a"},
    {C, R"({"prompt": "a", "response_format": {"type": "json_schema", "json_schema": {"schema": 3}}})",
     "response_format.json_schema.schema", "must be a JSON schema"},
    {H, "{" + kMsg + R"(, "response_format": {"type": "json_schema", "json_schema": {"schema": {}, "strict": 1}}})",
     "response_format.json_schema.strict", "boolean"},
    {H, "{" + kMsg + R"(, "response_format": "json"})", "response_format", "got string"},
    {C, R"({"prompt": "a", "model": 5})", "model", "got integer"},
    {C, R"({"prompt": "a", "user": ["u"]})", "user", "got array"},
    {C, R"({"prompt": "a", "session_id": 7})", "session_id", "got integer"},
    // Chat messages.
    {H, R"({})", "messages", "required"},
    {H, R"({"prompt": "hi"})", "messages", "required"},
    {H, R"({"messages": []})", "messages", "at least one"},
    {H, R"({"messages": {"role": "user"}})", "messages", "got object"},
    {H, R"({"messages": ["hi"]})", "messages[0]", "got string"},
    {H, R"({"messages": [{"content": "hi"}]})", "messages[0].role", "required"},
    {H, R"({"messages": [{"role": 5, "content": "hi"}]})", "messages[0].role", "got integer"},
    {H, R"({"messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]})",
     "messages[1].role", "got 'robot'"},
    {H, R"({"messages": [{"role": "user"}]})", "messages[0].content", "required"},
    {H, R"({"messages": [{"role": "system", "content": null}]})", "messages[0].content", "required"},
    {H, R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content", "got integer"},
    {H, R"({"messages": [{"role": "user", "content": ["x"]}]})", "messages[0].content[0]", "got string"},
    {H, R"({"messages": [{"role": "user", "content": [{"text": "x"}]}]})", "messages[0].content[0].type",
     "required"},
    {H, R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"},
        {"type": "image_url", "image_url": {"url": "x"}}]}]})",
     "messages[0].content[1].type", "'image_url' is not supported"},
    {H, R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})", "messages[0].content[0].text",
     "required"},
    {H, R"({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]})",
     "messages[0].content[0].text", "got integer"},
    {H, R"({"messages": [{"role": "user", "content": "hi", "name": 5}]})", "messages[0].name", "got integer"},
    // Chat logprobs.
    {H, "{" + kMsg + R"(, "logprobs": 5})", "logprobs", "got integer"},
    {H, "{" + kMsg + R"(, "top_logprobs": 3})", "top_logprobs", "needs 'logprobs'"},
    {H, "{" + kMsg + R"(, "logprobs": false, "top_logprobs": 3})", "top_logprobs", "needs 'logprobs'"},
    {H, "{" + kMsg + R"(, "logprobs": true, "top_logprobs": 21})", "top_logprobs", "in [0, 20]"},
    {H, "{" + kMsg + R"(, "temperature": -1})", "temperature", "in [0, 2]"},
};

TEST(HttpOpenAiRequest, BadRequestsGet400NamingTheParam) {
  for (const BadCase& c : kBadCases) {
    SCOPED_TRACE(c.body);
    ParseResult r = parse(c.kind, c.body);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << "accepted";
    const ApiError& e = std::get<ApiError>(r);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_EQ(e.param, c.param) << e.message;
    EXPECT_NE(e.message.find(c.message), std::string::npos) << e.message;
  }
}

// ---------------------------------------------------------------- valid requests

const ApiRequest& ok(const ParseResult& r) {
  if (const auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << "rejected: " << e->param << ": " << e->message;
  static const ApiRequest empty;
  return std::holds_alternative<ApiRequest>(r) ? std::get<ApiRequest>(r) : empty;
}

TEST(HttpOpenAiRequest, CompletionDefaults) {
  ParseResult pr = parse_completion_request(R"({"prompt": "Hello"})");
  const ApiRequest& r = ok(pr);
  EXPECT_EQ(r.kind, ApiKind::completion);
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_FALSE(r.prompts[0].is_tokens);
  EXPECT_EQ(r.prompts[0].text, "Hello");
  EXPECT_TRUE(r.model.empty());
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_EQ(r.sampling.min_p, 0.0f);
  EXPECT_EQ(r.sampling.repetition_penalty, 1.0f);
  EXPECT_EQ(r.sampling.presence_penalty, 0.0f);
  EXPECT_EQ(r.sampling.frequency_penalty, 0.0f);
  EXPECT_FALSE(r.seed.has_value());
  EXPECT_EQ(r.sampling.seed, 0u);
  EXPECT_TRUE(r.stop.empty());
  EXPECT_TRUE(r.stop_token_ids.empty());
  EXPECT_FALSE(r.ignore_eos);
  EXPECT_TRUE(r.spec_decode);
  EXPECT_EQ(r.logprobs, -1);
  EXPECT_FALSE(r.echo);
  EXPECT_EQ(r.n, 1);
  EXPECT_TRUE(r.user.empty());
  EXPECT_TRUE(r.session_id.empty());
}

TEST(HttpOpenAiRequest, CompletionAllFields) {
  ParseResult pr = parse_completion_request(R"({
    "model": "tiny", "prompt": "Once", "max_tokens": 16, "temperature": 0.5, "top_p": 0.9,
    "top_k": 40, "min_p": 0.05, "presence_penalty": -1.5, "frequency_penalty": 2,
    "repetition_penalty": 1.1, "seed": 42, "stop": ["\n", "END"], "stop_token_ids": [2, 0],
    "ignore_eos": true, "spec_decode": false, "logprobs": 5, "n": 1, "best_of": 1, "stream": true,
    "stream_options": {"include_usage": true}, "user": "u-1", "session_id": "s-9",
    "suffix": "", "logit_bias": {}, "echo": false})");
  const ApiRequest& r = ok(pr);
  EXPECT_EQ(r.model, "tiny");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].text, "Once");
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_EQ(r.sampling.min_p, 0.05f);
  EXPECT_EQ(r.sampling.presence_penalty, -1.5f);
  EXPECT_EQ(r.sampling.frequency_penalty, 2.0f);
  EXPECT_EQ(r.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(r.seed, 42u);
  EXPECT_EQ(r.sampling.seed, 42u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_EQ(r.stop_token_ids, (std::vector<int32_t>{2, 0}));
  EXPECT_TRUE(r.ignore_eos);
  EXPECT_FALSE(r.spec_decode);
  EXPECT_EQ(r.logprobs, 5);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.user, "u-1");
  EXPECT_EQ(r.session_id, "s-9");
  EXPECT_FALSE(r.echo);
}

TEST(HttpOpenAiRequest, PromptShapes) {
  {
    ParseResult pr = parse_completion_request(R"({"prompt": [1, 2, 3]})");
    const ApiRequest& r = ok(pr);
    ASSERT_EQ(r.prompts.size(), 1u);
    EXPECT_TRUE(r.prompts[0].is_tokens);
    EXPECT_EQ(r.prompts[0].tokens, (std::vector<int32_t>{1, 2, 3}));
  }
  {
    ParseResult pr = parse_completion_request(R"({"prompt": ["a", "", "c"]})");
    const ApiRequest& r = ok(pr);
    ASSERT_EQ(r.prompts.size(), 3u);
    EXPECT_EQ(r.prompts[0].text, "a");
    EXPECT_EQ(r.prompts[1].text, "");
    EXPECT_EQ(r.prompts[2].text, "c");
    EXPECT_FALSE(r.prompts[2].is_tokens);
  }
  {
    ParseResult pr = parse_completion_request(R"({"prompt": [[7], [0, 2147483647], []]})");
    const ApiRequest& r = ok(pr);
    ASSERT_EQ(r.prompts.size(), 3u);
    EXPECT_TRUE(r.prompts[1].is_tokens);
    EXPECT_EQ(r.prompts[0].tokens, (std::vector<int32_t>{7}));
    EXPECT_EQ(r.prompts[1].tokens, (std::vector<int32_t>{0, 2147483647}));
    EXPECT_TRUE(r.prompts[2].tokens.empty());  // the caller rejects 0 tokens (resolve_max_tokens)
  }
  {  // "" is allowed here; the token count is checked after tokenization.
    ParseResult pr = parse_completion_request(R"({"prompt": ""})");
    EXPECT_EQ(ok(pr).prompts.at(0).text, "");
  }
  {  // integral floats are integers; escapes decode to UTF-8.
    ParseResult pr = parse_completion_request(R"({"prompt": [5.0, 1e2]})");
    EXPECT_EQ(ok(pr).prompts.at(0).tokens, (std::vector<int32_t>{5, 100}));
    ParseResult pu = parse_completion_request(R"({"prompt": "h\u00e9 \ud83d\ude00 \n"})");
    EXPECT_EQ(ok(pu).prompts.at(0).text, "h\xc3\xa9 \xf0\x9f\x98\x80 \n");
    ParseResult raw = parse_completion_request("{\"prompt\": \"\xe4\xbd\xa0\xe5\xa5\xbd\"}");
    EXPECT_EQ(ok(raw).prompts.at(0).text, "\xe4\xbd\xa0\xe5\xa5\xbd");
  }
}

TEST(HttpOpenAiRequest, NullsAreAbsentAndUnknownFieldsIgnored) {
  ParseResult pr = parse_completion_request(R"({"prompt": "a", "model": null, "max_tokens": null,
    "temperature": null, "top_p": null, "top_k": null, "seed": null, "stop": null, "stream": null,
    "stream_options": null, "logprobs": null, "echo": null, "n": null, "user": null, "suffix": null,
    "logit_bias": null, "session_id": null, "response_format": null,
    "tools": [{"type": "function"}], "tool_choice": "auto", "frobnicate": {"x": [1, 2]},
    "metadata": 5, "store": "yes"})");
  const ApiRequest& r = ok(pr);
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FALSE(r.seed.has_value());
  EXPECT_TRUE(r.stop.empty());
  EXPECT_EQ(r.logprobs, -1);
}

TEST(HttpOpenAiRequest, EdgeValues) {
  {
    ParseResult pr = parse_completion_request(R"({"prompt": "a", "max_tokens": 16.0, "top_k": -1,
      "temperature": 0, "top_p": 0, "max_completion_tokens": 16, "stop": "###", "seed": -1})");
    const ApiRequest& r = ok(pr);
    EXPECT_EQ(r.max_tokens, 16);
    EXPECT_EQ(r.sampling.top_k, 0);  // -1 = off (vLLM's spelling)
    EXPECT_EQ(r.sampling.temperature, 0.0f);
    EXPECT_EQ(r.sampling.top_p, 0.0f);
    EXPECT_EQ(r.stop, (std::vector<std::string>{"###"}));
    EXPECT_EQ(r.seed, std::numeric_limits<uint64_t>::max());  // -1 wraps
  }
  {
    ParseResult pr = parse_completion_request(
        R"({"prompt": "a", "seed": 18446744073709551615, "temperature": 2, "logprobs": 20,
            "max_completion_tokens": 2147483647, "stop": ["a", "b", "c", "d"]})");
    const ApiRequest& r = ok(pr);
    EXPECT_EQ(r.seed, 18446744073709551615u);
    EXPECT_EQ(r.sampling.temperature, 2.0f);
    EXPECT_EQ(r.logprobs, 20);
    EXPECT_EQ(r.max_tokens, 2147483647);
    EXPECT_EQ(r.stop.size(), 4u);
  }
  {  // echo alone is fine; stream with include_usage false.
    ParseResult pr = parse_completion_request(
        R"({"prompt": "a", "echo": true, "stream": true, "stream_options": {"include_usage": false}})");
    const ApiRequest& r = ok(pr);
    EXPECT_TRUE(r.echo);
    EXPECT_TRUE(r.stream);
    EXPECT_FALSE(r.include_usage);
  }
}

TEST(HttpOpenAiRequest, DeepNestingDoesNotCrash) {
  // 100000 nested arrays in an ignored field: parsed without recursion, then ignored.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  ParseResult pr = parse_completion_request(R"({"prompt": "a", "x": )" + deep + "}");
  EXPECT_EQ(ok(pr).prompts.at(0).text, "a");
  ParseResult bad = parse_completion_request(R"({"prompt": )" + std::string(100000, '['));
  ASSERT_TRUE(std::holds_alternative<ApiError>(bad));
  EXPECT_EQ(std::get<ApiError>(bad).status, 400);
}

TEST(HttpOpenAiRequest, ChatMessages) {
  ParseResult pr = parse_chat_request(R"({"model": "m", "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "developer", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]},
      {"role": "user", "content": "Hi", "name": "bob"},
      {"role": "assistant", "content": null, "tool_calls": []},
      {"role": "assistant"},
      {"role": "tool", "content": "42", "tool_call_id": "x"},
      {"role": "user", "content": []}],
    "max_completion_tokens": 8, "stream": true, "stream_options": {"include_usage": true}})");
  const ApiRequest& r = ok(pr);
  EXPECT_EQ(r.kind, ApiKind::chat);
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 7u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[0].content, "Be brief.");
  EXPECT_EQ(r.messages[1].role, "developer");
  EXPECT_EQ(r.messages[1].content, "A\nB");  // text parts joined with "\n"
  EXPECT_EQ(r.messages[2].name, "bob");
  EXPECT_EQ(r.messages[2].content, "Hi");
  EXPECT_EQ(r.messages[3].role, "assistant");
  EXPECT_EQ(r.messages[3].content, "");
  EXPECT_EQ(r.messages[4].content, "");
  EXPECT_EQ(r.messages[5].role, "tool");
  EXPECT_EQ(r.messages[6].content, "");
  EXPECT_EQ(r.max_tokens, 8);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.logprobs, -1);
  EXPECT_TRUE(r.prompts.empty());
}

TEST(HttpOpenAiRequest, ChatLogprobs) {
  struct Row {
    std::string extra;
    int32_t logprobs;
  };
  const std::vector<Row> rows = {
      {"", -1},
      {R"(, "logprobs": false)", -1},
      {R"(, "logprobs": true)", 0},
      {R"(, "logprobs": true, "top_logprobs": 5)", 5},
      {R"(, "logprobs": true, "top_logprobs": 20)", 20},
      {R"(, "logprobs": true, "top_logprobs": null)", 0},
      {R"(, "logprobs": false, "top_logprobs": null)", -1},
      {R"(, "response_format": {"type": "text"}, "echo": 5)", -1},  // chat ignores "echo"
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.extra);
    ParseResult pr = parse_chat_request("{" + kMsg + row.extra + "}");
    EXPECT_EQ(ok(pr).logprobs, row.logprobs);
  }
}

TEST(HttpOpenAiRequest, ResolveMaxTokens) {
  ApiRequest completion;
  ApiRequest chat;
  chat.kind = ApiKind::chat;
  ApiRequest capped = completion;
  capped.max_tokens = 90;
  ApiRequest over = completion;
  over.max_tokens = 91;
  struct Row {
    const ApiRequest* req;
    size_t prompt, ctx;
    int32_t want;         // -1: error
    std::string param, code;
  };
  const std::vector<Row> rows = {
      {&completion, 10, 100, 90, "", ""},  // absent: the room left
      {&capped, 10, 100, 90, "", ""},      // exactly fills the context
      {&over, 10, 100, -1, "max_tokens", "context_length_exceeded"},
      {&completion, 99, 100, 1, "", ""},
      {&completion, 100, 100, -1, "prompt", "context_length_exceeded"},
      {&chat, 150, 100, -1, "messages", "context_length_exceeded"},
      {&completion, 0, 100, -1, "prompt", ""},
      {&chat, 0, 100, -1, "messages", ""},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(testing::Message() << row.prompt << " of " << row.ctx);
    auto r = resolve_max_tokens(*row.req, row.prompt, row.ctx);
    if (row.want >= 0) {
      ASSERT_TRUE(std::holds_alternative<int32_t>(r));
      EXPECT_EQ(std::get<int32_t>(r), row.want);
    } else {
      ASSERT_TRUE(std::holds_alternative<ApiError>(r));
      const ApiError& e = std::get<ApiError>(r);
      EXPECT_EQ(e.status, 400);
      EXPECT_EQ(e.param, row.param);
      EXPECT_EQ(e.code, row.code);
    }
  }
}

// ---------------------------------------------------------------- responses

ResponseMeta meta(const std::string& id = "cmpl-1") { return {id, 1700000000, "m"}; }

TEST(HttpOpenAiResponse, ResponseIds) {
  EXPECT_EQ(make_response_id(ApiKind::completion, 0xabc), "cmpl-0000000000000abc");
  EXPECT_EQ(make_response_id(ApiKind::chat, 0xfedcba9876543210ull), "chatcmpl-fedcba9876543210");
}

TEST(HttpOpenAiResponse, CompletionExactText) {
  ChoiceResult c;
  c.text = "Hi";
  c.finish_reason = "stop";
  Usage u{5, 7, std::nullopt};
  // Written by hand from the OpenAI reference (key order as OpenAI sends it).
  EXPECT_EQ(completion_response_json(meta(), {c}, u),
            R"({"id":"cmpl-1","object":"text_completion","created":1700000000,"model":"m",)"
            R"("choices":[{"index":0,"text":"Hi","logprobs":null,"finish_reason":"stop"}],)"
            R"("usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})");
}

TEST(HttpOpenAiResponse, CompletionLogprobsAndUsage) {
  ChoiceResult c;
  c.index = 1;
  c.text = "Hello w\xc3\xb6rld";
  c.finish_reason = "length";
  c.has_logprobs = true;
  c.text_offset = 3;
  c.logprobs = {
      {"He", -0.5f, {{"He", -0.5f}, {"Hi", -1.0f}}},
      {"llo", -1.25f, {{"lo", -0.75f}}},  // chosen token not among the alternatives: added
      {" w\xc3\xb6rld", -std::numeric_limits<float>::infinity(), {}},
  };
  Usage u{4, 3, 2};
  const std::string text = completion_response_json(meta(), {c}, u);
  json j = json::parse(text);
  EXPECT_EQ(j["object"], "text_completion");
  const json& ch = j["choices"][0];
  EXPECT_EQ(ch["index"], 1);
  EXPECT_EQ(ch["text"], "Hello w\xc3\xb6rld");
  EXPECT_EQ(ch["finish_reason"], "length");
  const json& lp = ch["logprobs"];
  EXPECT_EQ(lp["tokens"], json::array({"He", "llo", " w\xc3\xb6rld"}));
  EXPECT_EQ(lp["token_logprobs"], json::array({-0.5, -1.25, -9999.0}));
  EXPECT_EQ(lp["text_offset"], json::array({3, 5, 8}));  // 3, +2 ("He"), +3 ("llo")
  ASSERT_EQ(lp["top_logprobs"].size(), 3u);
  EXPECT_EQ(lp["top_logprobs"][0], json::object({{"He", -0.5}, {"Hi", -1.0}}));
  EXPECT_EQ(lp["top_logprobs"][1], json::object({{"lo", -0.75}, {"llo", -1.25}}));
  EXPECT_EQ(lp["top_logprobs"][2], json::object({{" w\xc3\xb6rld", -9999.0}}));
  EXPECT_EQ(j["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  EXPECT_EQ(j["usage"]["total_tokens"], 7);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
  // Floats keep their shortest decimal form (-0.1f is not -0.10000000149011612).
  c.logprobs = {{"x", -0.1f, {}}};
  EXPECT_NE(completion_response_json(meta(), {c}, u).find(R"("token_logprobs":[-0.1])"), std::string::npos);
}

TEST(HttpOpenAiResponse, ChatResponse) {
  ChoiceResult c;
  c.text = "Hi \xe2\x82\xac";
  c.finish_reason = "stop";
  c.has_logprobs = true;
  c.logprobs = {
      {"Hi", -0.25f, {{"Hi", -0.25f}, {"Hey", -2.0f}}},
      {" \xe2\x82", -1.5f, {}},  // a token ending inside a UTF-8 sequence
  };
  const std::string text = chat_response_json(meta("chatcmpl-1"), {c}, Usage{3, 2, std::nullopt});
  json j = json::parse(text);  // must parse: no raw invalid UTF-8 left
  EXPECT_EQ(j["id"], "chatcmpl-1");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], "m");
  const json& ch = j["choices"][0];
  EXPECT_EQ(ch["index"], 0);
  EXPECT_EQ(ch["message"], json::object({{"role", "assistant"}, {"content", "Hi \xe2\x82\xac"}}));
  EXPECT_EQ(ch["finish_reason"], "stop");
  const json& content = ch["logprobs"]["content"];
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0]["token"], "Hi");
  EXPECT_EQ(content[0]["logprob"], -0.25);
  EXPECT_EQ(content[0]["bytes"], json::array({72, 105}));
  ASSERT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(content[0]["top_logprobs"][1], json::object({{"token", "Hey"}, {"logprob", -2.0}, {"bytes", {72, 101, 121}}}));
  EXPECT_EQ(content[1]["token"], " \xef\xbf\xbd");  // U+FFFD stands in for the partial sequence
  EXPECT_EQ(content[1]["bytes"], json::array({32, 0xe2, 0x82}));
  EXPECT_EQ(content[1]["top_logprobs"], json::array());
  EXPECT_EQ(j["usage"], json::object({{"prompt_tokens", 3}, {"completion_tokens", 2}, {"total_tokens", 5}}));
  // Without logprobs requested: null.
  c.has_logprobs = false;
  EXPECT_TRUE(json::parse(chat_response_json(meta(), {c}, {}))["choices"][0]["logprobs"].is_null());
}

TEST(HttpOpenAiResponse, InvalidUtf8TextIsReplaced) {
  ChoiceResult c;
  c.text = "a\xff" "b";
  const std::string text = completion_response_json(meta(), {c}, {});
  EXPECT_EQ(json::parse(text)["choices"][0]["text"], "a\xef\xbf\xbd" "b");
}

TEST(HttpOpenAiResponse, ChatChunks) {
  ChoiceResult c;
  // First chunk, written by hand from the OpenAI streaming reference.
  EXPECT_EQ(chat_chunk_json(meta("chatcmpl-1"), c, true, false),
            R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m",)"
            R"("choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,)"
            R"("finish_reason":null}]})");
  // Middle chunk with usage requested: "usage": null, delta has content only.
  c.text = "lo";
  json mid = json::parse(chat_chunk_json(meta(), c, false, true));
  EXPECT_EQ(mid["choices"][0]["delta"], json::object({{"content", "lo"}}));
  EXPECT_TRUE(mid["choices"][0]["finish_reason"].is_null());
  ASSERT_TRUE(mid.contains("usage"));
  EXPECT_TRUE(mid["usage"].is_null());
  // Last chunk: empty delta, finish_reason set; no "usage" key without include_usage.
  c.text.clear();
  c.finish_reason = "length";
  json last = json::parse(chat_chunk_json(meta(), c, false, false));
  EXPECT_EQ(last["choices"][0]["delta"], json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  EXPECT_FALSE(last.contains("usage"));
  // Logprobs in a chunk: the chunk's tokens, or null when there are none.
  c.has_logprobs = true;
  EXPECT_TRUE(json::parse(chat_chunk_json(meta(), c, false, false))["choices"][0]["logprobs"].is_null());
  c.text = "x";
  c.logprobs = {{"x", -1.0f, {}}};
  json withlp = json::parse(chat_chunk_json(meta(), c, false, false));
  EXPECT_EQ(withlp["choices"][0]["logprobs"]["content"][0]["token"], "x");
}

TEST(HttpOpenAiResponse, CompletionChunksAndUsageChunk) {
  ChoiceResult c;
  c.text = " world";
  json chunk = json::parse(completion_chunk_json(meta(), c, true));
  EXPECT_EQ(chunk["object"], "text_completion");
  EXPECT_EQ(chunk["choices"][0], json::object({{"index", 0}, {"text", " world"}, {"logprobs", nullptr},
                                        {"finish_reason", nullptr}}));
  EXPECT_TRUE(chunk.contains("usage") && chunk["usage"].is_null());
  c.has_logprobs = true;
  c.text_offset = 5;
  c.logprobs = {{" world", -0.5f, {}}};
  json lp = json::parse(completion_chunk_json(meta(), c, false))["choices"][0]["logprobs"];
  EXPECT_EQ(lp["text_offset"], json::array({5}));
  EXPECT_EQ(lp["tokens"], json::array({" world"}));

  Usage u{10, 4, 8};
  EXPECT_EQ(usage_chunk_json(ApiKind::chat, meta("chatcmpl-1"), u),
            R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m",)"
            R"("choices":[],"usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14,)"
            R"("prompt_tokens_details":{"cached_tokens":8}}})");
  json uc = json::parse(usage_chunk_json(ApiKind::completion, meta(), Usage{1, 2, std::nullopt}));
  EXPECT_EQ(uc["object"], "text_completion");
  EXPECT_EQ(uc["choices"], json::array());
  EXPECT_EQ(uc["usage"]["total_tokens"], 3);
  EXPECT_FALSE(uc["usage"].contains("prompt_tokens_details"));
}

TEST(HttpOpenAiResponse, ModelsAndSse) {
  EXPECT_EQ(models_json({{"tiny", 1700000000, "shardlm", 0}}),
            R"({"object":"list","data":[{"id":"tiny","object":"model","created":1700000000,"owned_by":"shardlm"}]})");
  json j = json::parse(models_json({{"a", 1, "me", 4096}, {"b", 2}}));
  EXPECT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["max_model_len"], 4096);
  EXPECT_EQ(j["data"][0]["owned_by"], "me");
  EXPECT_EQ(j["data"][1]["owned_by"], "shardlm");
  EXPECT_FALSE(j["data"][1].contains("max_model_len"));
  EXPECT_EQ(json::parse(models_json({}))["data"], json::array());

  EXPECT_EQ(sse_event(R"({"a":1})"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
  // Builders produce one line, as an SSE data field needs.
  ChoiceResult c;
  c.text = "line1\nline2\r\n";
  EXPECT_EQ(chat_chunk_json(meta(), c, true, false).find('\n'), std::string::npos);
}

}  // namespace
