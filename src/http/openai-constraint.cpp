// response_format and forced tool calls → a grammar (grammar/grammar.h).
#include "http/openai-constraint.h"

#include <fmt/format.h>

#include "shardlm/grammar/grammar.h"

namespace shardlm::http::detail {

namespace {

using json = nlohmann::json;
using Err = std::optional<ApiError>;

const json* field(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

// compile() says "response schema: unsupported JSON schema keyword 'x' at /a"; the
// 400 names the request field and keeps the place inside the schema.
std::string schema_error(const Status& st, const std::string& param) {
  std::string m = st.message();
  const std::string prefix = "response schema: ";
  if (m.compare(0, prefix.size(), prefix) == 0) m.erase(0, prefix.size());
  return fmt::format("'{}' is not supported for constrained output: {}", param, m);
}

Err compile_into(const json& schema, const std::string& param, const std::string& kind, ApiRequest& r) {
  auto g = grammar::compile(schema);
  if (!g) return bad_request(schema_error(g.status(), param), param);
  r.grammar = std::move(g.value());
  r.grammar_key = kind + '\n' + schema.dump();  // std::map keys: one text per schema
  return std::nullopt;
}

// A tool's "parameters" (absent: no arguments, the empty object).
json tool_parameters(const ApiTool& t) {
  if (t.parameters.empty()) return json{{"type", "object"}, {"properties", json::object()}};
  return json::parse(t.parameters);
}

// Local "$ref"s of a schema moved to `at` (a JSON pointer) inside a bigger schema point
// where they pointed before ("#/$defs/X" -> "#AT/$defs/X"). Values (const, enum, ...)
// are left alone.
json rebase_refs(json s, const std::string& at) {
  if (s.is_array()) {
    for (auto& v : s) v = rebase_refs(std::move(v), at);
  } else if (s.is_object()) {
    for (auto& [k, v] : s.items()) {
      if (k == "const" || k == "enum" || k == "default" || k == "examples") continue;
      if (k == "$ref" && v.is_string() && v.get<std::string>().rfind('#', 0) == 0)
        v = "#" + at + v.get<std::string>().substr(1);
      else
        v = rebase_refs(std::move(v), at);
    }
  }
  return s;
}

}  // namespace

Err parse_response_format(const json& o, ApiRequest& r) {
  const json* rf = field(o, "response_format");
  if (!rf) return std::nullopt;
  if (!rf->is_object())
    return bad_request(fmt::format("'response_format' must be an object, got {}", rf->type_name()), "response_format");
  const json* t = field(*rf, "type");
  if (!t || !t->is_string())
    return bad_request("'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"", "response_format.type");
  const std::string& type = t->get_ref<const std::string&>();
  if (type == "text") return std::nullopt;
  if (type == "json_object") {
    r.constraint = ApiRequest::Constraint::json_object;
    return compile_into(json{{"type", "json_object"}}, "response_format", "json_object", r);
  }
  if (type != "json_schema")
    return bad_request(fmt::format("response_format type '{}' is not supported (text, json_object, json_schema)", type),
                       "response_format.type");
  const json* js = field(*rf, "json_schema");
  if (!js || !js->is_object())
    return bad_request("'response_format.json_schema' must be an object with a 'schema'", "response_format.json_schema");
  if (const json* st = field(*js, "strict"); st && !st->is_boolean())
    return bad_request("'response_format.json_schema.strict' must be a boolean", "response_format.json_schema.strict");
  if (const json* n = field(*js, "name"); n && !n->is_string())
    return bad_request("'response_format.json_schema.name' must be a string", "response_format.json_schema.name");
  const json* schema = field(*js, "schema");
  const std::string param = "response_format.json_schema.schema";
  if (!schema) return bad_request("'response_format.json_schema.schema' is required", param);
  if (!schema->is_object()) return bad_request("'response_format.json_schema.schema' must be a JSON schema (an object)", param);
  r.constraint = ApiRequest::Constraint::json_schema;
  return compile_into(*schema, param, "json_schema", r);
}

json tool_call_schema(const ApiRequest& r) {
  std::vector<const ApiTool*> chosen;
  for (const ApiTool& t : r.tools)
    if (r.tool_choice.mode != ToolChoiceMode::named || t.name == r.tool_choice.name) chosen.push_back(&t);
  json alts = json::array();
  for (size_t i = 0; i < chosen.size(); ++i) {
    // Where the parameters land: /items[/anyOf/i]/properties/arguments (their $refs follow).
    const std::string at = (chosen.size() == 1 ? "/items" : "/items/anyOf/" + std::to_string(i)) + "/properties/arguments";
    alts.push_back(json{{"type", "object"},
                        {"properties", {{"name", {{"const", chosen[i]->name}}},
                                        {"arguments", rebase_refs(tool_parameters(*chosen[i]), at)}}},
                        {"required", {"name", "arguments"}}});
  }
  json items = alts.size() == 1 ? alts[0] : json{{"anyOf", alts}};
  json s{{"type", "array"}, {"items", std::move(items)}, {"minItems", 1}};
  if (r.tool_choice.mode == ToolChoiceMode::named || !r.parallel_tool_calls) s["maxItems"] = 1;
  return s;
}

Err build_tool_call_grammar(ApiRequest& r) {
  if (r.tool_choice.mode != ToolChoiceMode::required && r.tool_choice.mode != ToolChoiceMode::named) return std::nullopt;
  // Each tool's parameters on its own first, so that the error names the tool.
  for (size_t i = 0; i < r.tools.size(); ++i) {
    const ApiTool& t = r.tools[i];
    if (r.tool_choice.mode == ToolChoiceMode::named && t.name != r.tool_choice.name) continue;
    const std::string param = fmt::format("tools[{}].function.parameters", i);
    const json p = tool_parameters(t);
    if (!p.is_object() || p.value("type", json("object")) != json("object"))
      return bad_request(fmt::format("'{}' must be an object schema (type \"object\") for a forced tool call", param), param);
    if (auto g = grammar::compile(p); !g) return bad_request(schema_error(g.status(), param), param);
  }
  r.constraint = ApiRequest::Constraint::tool_calls;
  return compile_into(tool_call_schema(r), "tool_choice", "tool_calls", r);
}

}  // namespace shardlm::http::detail
