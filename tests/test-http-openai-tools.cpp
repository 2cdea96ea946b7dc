// OpenAI chat tool fields: tools / tool_choice / parallel_tool_calls / message tool
// parts (validation tables, param named), and tool_calls / reasoning in responses.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shardlm/http/openai-request.h"
#include "shardlm/http/openai-response.h"

using namespace shardlm::http;
using json = nlohmann::json;

namespace {

const std::string kMsg = R"("messages": [{"role": "user", "content": "hi"}])";
const std::string kTool =
    R"({"type": "function", "function": {"name": "get_weather", "description": "d", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}}, "required": ["city"]}}})";

std::string body(const std::string& extra) { return "{" + kMsg + ", " + extra + "}"; }

struct Bad {
  std::string body, param, message;
};

TEST(HttpOpenAiTools, BadToolFieldsGet400NamingTheParam) {
  const std::vector<Bad> cases = {
      {body(R"("tools": {"type": "function"})"), "tools", "must be an array of functions, got object"},
      {body(R"("tools": ["get_weather"])"), "tools[0]", "got string"},
      {body(R"("tools": [{"type": "retrieval"}])"), "tools[0].type", "must be \"function\""},
      {body(R"("tools": [{"type": "function"}])"), "tools[0].function", "required"},
      {body(R"("tools": [{"type": "function", "function": {}}])"), "tools[0].function.name", "required"},
      {body(R"("tools": [{"type": "function", "function": {"name": "a b"}}])"), "tools[0].function.name", "1 to 64"},
      {body(R"("tools": [{"type": "function", "function": {"name": "f", "parameters": "object"}}])"),
       "tools[0].function.parameters", "must be a JSON schema"},
      {body(R"("tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "dict"}}}])"),
       "tools[0].function.parameters.type", "type name"},
      {body(R"("tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object",
         "properties": {"x": 5}}}}])"),
       "tools[0].function.parameters.properties.x", "must be a JSON schema"},
      {body(R"("tools": [{"type": "function", "function": {"name": "f", "parameters": {"required": "x"}}}])"),
       "tools[0].function.parameters.required", "array of strings"},
      {body(R"("tools": [{"type": "function", "function": {"name": "f", "parameters": {"items": {"type": 3}}}}])"),
       "tools[0].function.parameters.items.type", "type name"},
      {body(R"("tools": [{"type": "function", "function": {"name": "f", "parameters": {"anyOf": []}}}])"),
       "tools[0].function.parameters.anyOf", "non-empty array"},
      {body(R"("tools": [{"type": "function", "function": {"name": "f", "parameters": {"enum": []}}}])"),
       "tools[0].function.parameters.enum", "non-empty"},
      {body(R"("tools": [{"type": "function", "function": {"name": "f", "parameters": {"maxItems": -1}}}])"),
       "tools[0].function.parameters.maxItems", ">= 0"},
      {body("\"tools\": [" + kTool + ", " + kTool + "]"), "tools[1].function.name", "appears twice"},
      {body("\"tools\": [" + kTool + R"(], "tool_choice": "always")"), "tool_choice", "got 'always'"},
      {body("\"tools\": [" + kTool + R"(], "tool_choice": 1)"), "tool_choice", "got integer"},
      {body("\"tools\": [" + kTool + R"(], "tool_choice": {"type": "function", "function": {"name": "get_time"}})"),
       "tool_choice", "'get_time', which is not in 'tools'"},
      {body("\"tools\": [" + kTool + R"(], "tool_choice": {"type": "function"})"), "tool_choice", "must be {"},
      {body(R"("tool_choice": "required")"), "tool_choice", "requires 'tools'"},
      {body(R"("tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object",
       "properties": {"s": {"type": "string", "format": "uri"}}}}}], "tool_choice": "required")"),
       "tools[0].function.parameters", "unsupported format \"uri\" at /properties/s"},
      {body(R"("tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}],
       "tool_choice": {"type": "function", "function": {"name": "f"}})"), "tools[0].function.parameters", "type \"object\""},
      {body("\"tools\": [" + kTool + R"(], "parallel_tool_calls": "yes")"), "parallel_tool_calls", "a boolean"},
      {R"({"messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "42"}]})",
       "messages[1].tool_call_id", "required for role 'tool'"},
      {R"({"messages": [{"role": "user", "content": "a", "tool_calls": []}]})", "messages[0].tool_calls",
       "only allowed in assistant"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f",
         "arguments": 5}}]}]})",
       "messages[0].tool_calls[0].function.arguments", "got integer"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}]})",
       "messages[0].tool_calls[0].function.name", "must be a string"},
      {R"({"messages": [{"role": "assistant", "tool_calls": {"id": "x"}}]})", "messages[0].tool_calls", "an array"},
  };
  for (const Bad& c : cases) {
    SCOPED_TRACE(c.body);
    ParseResult r = parse_chat_request(c.body);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << "accepted";
    const ApiError& e = std::get<ApiError>(r);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, c.param) << e.message;
    EXPECT_NE(e.message.find(c.message), std::string::npos) << e.message;
  }
}

TEST(HttpOpenAiTools, ToolsAndChoiceParsed) {
  {
    ParseResult pr = parse_chat_request(body("\"tools\": [" + kTool + "]"));
    ASSERT_TRUE(std::holds_alternative<ApiRequest>(pr)) << std::get<ApiError>(pr).message;
    const ApiRequest& r = std::get<ApiRequest>(pr);
    ASSERT_EQ(r.tools.size(), 1u);
    EXPECT_EQ(r.tools[0].name, "get_weather");
    EXPECT_EQ(r.tools[0].description, "d");
    EXPECT_EQ(json::parse(r.tools[0].parameters)["required"], json::array({"city"}));
    EXPECT_EQ(r.tool_choice.mode, ToolChoiceMode::auto_);  // the default with tools
    EXPECT_TRUE(r.parallel_tool_calls);
  }
  {
    ParseResult pr = parse_chat_request(body(R"("tool_choice": "none")"));
    ASSERT_TRUE(std::holds_alternative<ApiRequest>(pr));
    EXPECT_EQ(std::get<ApiRequest>(pr).tool_choice.mode, ToolChoiceMode::none);
    EXPECT_EQ(std::get<ApiRequest>(parse_chat_request(body(R"("tools": [])"))).tool_choice.mode, ToolChoiceMode::none);
  }
  {
    ParseResult pr = parse_chat_request(body("\"tools\": [" + kTool + R"(], "parallel_tool_calls": false,
        "tool_choice": "auto")"));
    ASSERT_TRUE(std::holds_alternative<ApiRequest>(pr)) << std::get<ApiError>(pr).message;
    const ApiRequest& r = std::get<ApiRequest>(pr);
    EXPECT_EQ(r.tool_choice.mode, ToolChoiceMode::auto_);
    EXPECT_FALSE(r.parallel_tool_calls);
  }
  {
    ParseResult pr = parse_chat_request(R"({"messages": [{"role": "user", "content": "w?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
         {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]})");
    ASSERT_TRUE(std::holds_alternative<ApiRequest>(pr)) << std::get<ApiError>(pr).message;
    const ApiRequest& r = std::get<ApiRequest>(pr);
    EXPECT_EQ(r.messages[1].n_tool_calls, 2u);
    EXPECT_EQ(r.messages[2].tool_call_id, "c1");
  }
}

ResponseMeta meta() { return ResponseMeta{"chatcmpl-1", 7, "m"}; }

TEST(HttpOpenAiTools, ResponseCarriesToolCallsAndReasoning) {
  ChoiceResult c;
  c.reasoning = "thinking";
  c.finish_reason = "tool_calls";
  c.tool_calls = {{0, true, "call_a", "get_weather", R"({"city":"Paris"})"}, {1, true, "call_b", "get_weather", "{}"}};
  json j = json::parse(chat_response_json(meta(), {c}, Usage{1, 2, std::nullopt}));
  const json& m = j["choices"][0]["message"];
  EXPECT_TRUE(m["content"].is_null());  // calls and no text
  EXPECT_EQ(m["reasoning_content"], "thinking");
  ASSERT_EQ(m["tool_calls"].size(), 2u);
  EXPECT_EQ(m["tool_calls"][0], json::parse(R"({"id": "call_a", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}})"));
  EXPECT_EQ(m["tool_calls"][1]["id"], "call_b");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");

  ChoiceResult plain;
  plain.text = "hi";
  json p = json::parse(chat_response_json(meta(), {plain}, {}));
  EXPECT_FALSE(p["choices"][0]["message"].contains("tool_calls"));
  EXPECT_FALSE(p["choices"][0]["message"].contains("reasoning_content"));
  EXPECT_EQ(p["choices"][0]["message"]["content"], "hi");
}

TEST(HttpOpenAiTools, ChunkDeltasHaveOpenAiShape) {
  ChoiceResult head;
  head.tool_calls = {{1, true, "call_b", "get_weather", ""}};
  json h = json::parse(chat_chunk_json(meta(), head, false, false));
  EXPECT_EQ(h["choices"][0]["delta"], json::parse(R"({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
      "function": {"name": "get_weather", "arguments": ""}}]})"));
  ChoiceResult args;
  args.tool_calls = {{1, false, "", "", R"({"city":"Rome"})"}};
  args.reasoning = "r";
  json a = json::parse(chat_chunk_json(meta(), args, false, false));
  EXPECT_EQ(a["choices"][0]["delta"], json::parse(R"({"reasoning_content": "r",
      "tool_calls": [{"index": 1, "function": {"arguments": "{\"city\":\"Rome\"}"}}]})"));
}

}  // namespace
