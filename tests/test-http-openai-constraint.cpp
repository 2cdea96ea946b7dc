// response_format and forced tool calls → the request's grammar (http/openai-constraint.cpp):
// which documents the compiled grammar accepts (checked by walking the grammar's
// recognizer), what it refuses, and the 400s' params.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "shardlm/grammar/grammar.h"
#include "shardlm/http/openai-request.h"

using namespace shardlm;
using namespace shardlm::http;

namespace {

const std::string kMsg = R"("messages": [{"role": "user", "content": "hi"}])";
const std::string kTools = R"("tools": [
  {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}, "required": ["city"]}}},
  {"type": "function", "function": {"name": "ping"}}])";

ApiRequest parsed(const std::string& extra) {
  ParseResult pr = parse_chat_request("{" + kMsg + ", " + extra + "}");
  if (auto* e = std::get_if<ApiError>(&pr)) ADD_FAILURE() << e->message;
  return std::holds_alternative<ApiRequest>(pr) ? std::get<ApiRequest>(pr) : ApiRequest{};
}

// The grammar accepts exactly this document (whole, nothing may be missing).
bool accepts(const ApiRequest& r, const std::string& doc) {
  if (!r.grammar) return false;
  grammar::GrammarState st(r.grammar);
  return st.advance(doc) && st.is_complete();
}

}  // namespace

TEST(HttpOpenAiConstraint, ResponseFormatCompilesTheSchema) {
  ApiRequest text = parsed(R"("response_format": {"type": "text"})");
  EXPECT_EQ(text.constraint, ApiRequest::Constraint::none);
  EXPECT_FALSE(text.grammar);
  ApiRequest obj = parsed(R"("response_format": {"type": "json_object"})");
  EXPECT_EQ(obj.constraint, ApiRequest::Constraint::json_object);
  EXPECT_TRUE(accepts(obj, R"({"a":[1,{"b":null}]})"));
  EXPECT_FALSE(accepts(obj, "[1]"));
  ApiRequest sch = parsed(R"("response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": true,
      "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}})");
  EXPECT_EQ(sch.constraint, ApiRequest::Constraint::json_schema);
  EXPECT_TRUE(accepts(sch, R"({"n":12})"));
  EXPECT_FALSE(accepts(sch, R"({"n":1.5})"));
  EXPECT_FALSE(accepts(sch, R"({})"));
  EXPECT_FALSE(accepts(sch, R"({"n":1,"m":2})"));
  // Equal schemas give equal keys (the engine shares their mask caches), others differ.
  ApiRequest again = parsed(R"("response_format": {"type": "json_schema", "json_schema": {"name": "y",
      "schema": {"required": ["n"], "properties": {"n": {"type": "integer"}}, "type": "object"}}})");
  EXPECT_EQ(again.grammar_key, sch.grammar_key);
  EXPECT_NE(obj.grammar_key, sch.grammar_key);
  // Completions take it too.
  ParseResult c = parse_completion_request(R"({"prompt": "a", "response_format": {"type": "json_object"}})");
  ASSERT_TRUE(std::holds_alternative<ApiRequest>(c));
  EXPECT_TRUE(std::get<ApiRequest>(c).grammar);
}

TEST(HttpOpenAiConstraint, ForcedCallsAreACallArrayOfTheListedTools) {
  const std::string w = R"({"name":"get_weather","arguments":{"city":"P","unit":"c"}})";
  const std::string p = R"({"arguments":{},"name":"ping"})";
  ApiRequest req = parsed(kTools + R"(, "tool_choice": "required")");
  EXPECT_EQ(req.constraint, ApiRequest::Constraint::tool_calls);
  EXPECT_TRUE(accepts(req, "[" + w + "]"));
  EXPECT_TRUE(accepts(req, "[" + w + "," + p + "," + w + "]")) << "parallel calls by default";
  EXPECT_FALSE(accepts(req, "[]")) << "at least one call";
  EXPECT_FALSE(accepts(req, R"([{"name":"get_time","arguments":{}}])")) << "only listed tools";
  EXPECT_FALSE(accepts(req, R"([{"name":"get_weather","arguments":{"unit":"c"}}])")) << "required arguments";
  EXPECT_FALSE(accepts(req, R"([{"name":"ping","arguments":{"x":1}}])")) << "no parameters: {}";
  ApiRequest single = parsed(kTools + R"(, "tool_choice": "required", "parallel_tool_calls": false)");
  EXPECT_TRUE(accepts(single, "[" + p + "]"));
  EXPECT_FALSE(accepts(single, "[" + p + "," + p + "]"));
  ApiRequest named = parsed(kTools + R"(, "tool_choice": {"type": "function", "function": {"name": "get_weather"}})");
  EXPECT_TRUE(accepts(named, "[" + w + "]"));
  EXPECT_FALSE(accepts(named, "[" + p + "]"));
  EXPECT_FALSE(accepts(named, "[" + w + "," + w + "]"));
  // A forced call wins over response_format; auto leaves the answer free.
  ApiRequest both = parsed(kTools + R"(, "tool_choice": "required", "response_format": {"type": "json_object"})");
  EXPECT_EQ(both.constraint, ApiRequest::Constraint::tool_calls);
  ApiRequest open_choice = parsed(kTools + R"(, "tool_choice": "auto")");
  EXPECT_FALSE(open_choice.grammar);
}

// pydantic-style parameters ($defs, $ref, allOf) keep their meaning inside the call array.
TEST(HttpOpenAiConstraint, ToolParametersWithRefsStayResolved) {
  const std::string tools = R"("tools": [
    {"type": "function", "function": {"name": "a", "parameters": {"type": "object", "$defs": {"P": {"type": "object",
      "properties": {"x": {"type": "integer", "minimum": 1, "maximum": 3}}, "required": ["x"]}},
      "properties": {"p": {"allOf": [{"$ref": "#/$defs/P"}]}, "kids": {"type": "array", "items": {"$ref": "#"}}},
      "required": ["p"]}}},
    {"type": "function", "function": {"name": "b", "parameters": {"type": "object", "properties": {
      "q": {"$ref": "#/definitions/Q"}}, "definitions": {"Q": {"enum": ["r", "s"]}}}}}])";
  for (const char* choice : {R"("required")", R"({"type": "function", "function": {"name": "a"}})"}) {
    ApiRequest req = parsed(tools + R"(, "tool_choice": )" + choice);
    ASSERT_TRUE(req.grammar) << choice;
    EXPECT_TRUE(accepts(req, R"([{"name":"a","arguments":{"p":{"x":2},"kids":[{"p":{"x":3}}]}}])")) << choice;
    EXPECT_FALSE(accepts(req, R"([{"name":"a","arguments":{"p":{"x":4}}}])")) << choice;
    EXPECT_FALSE(accepts(req, R"([{"name":"a","arguments":{"p":{"x":1},"kids":[{"p":{}}]}}])")) << choice;
  }
  ApiRequest req = parsed(tools + R"(, "tool_choice": "required")");
  EXPECT_TRUE(accepts(req, R"([{"name":"b","arguments":{"q":"s"}}])"));
  EXPECT_FALSE(accepts(req, R"([{"name":"b","arguments":{"q":"t"}}])"));
}
