// Chat tool fields: tools (with their parameter schemas), tool_choice,
// parallel_tool_calls, and the tool parts of messages.
#include "http/openai-tools.h"

#include <cctype>
#include <set>

#include <fmt/format.h>

namespace shardlm::http::detail {

namespace {

using json = nlohmann::json;
using Err = std::optional<ApiError>;

ApiError bad(const std::string& param, std::string message) { return bad_request(std::move(message), param); }

const json* field(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

const char* kind_name(const json& v) {
  switch (v.type()) {
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    default: return "null";
  }
}

ApiError wrong(const std::string& param, const char* want, const json& got) {
  return bad(param, fmt::format("'{}' must be {}, got {}", param, want, kind_name(got)));
}

bool valid_tool_name(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char ch : n)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-')) return false;
  return true;
}

bool type_name_ok(const json& t) {
  static const std::set<std::string> kTypes{"object", "array", "string", "number", "integer", "boolean", "null"};
  return t.is_string() && kTypes.count(t.get<std::string>()) > 0;
}

Err schema_list(const json& s, const char* key, const std::string& param) {
  const json* v = field(s, key);
  if (!v) return std::nullopt;
  const std::string p = param + "." + key;
  if (!v->is_array() || v->empty()) return bad(p, fmt::format("'{}' must be a non-empty array of schemas", p));
  for (size_t i = 0; i < v->size(); ++i)
    if (Err e = check_schema((*v)[i], fmt::format("{}[{}]", p, i))) return e;
  return std::nullopt;
}

Err schema_count(const json& s, const char* key, const std::string& param) {
  const json* v = field(s, key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer() || v->get<int64_t>() < 0)
    return bad(param + "." + key, fmt::format("'{}.{}' must be an integer >= 0", param, key));
  return std::nullopt;
}

Err parse_tool(const json& t, const std::string& param, ApiTool& out) {
  if (!t.is_object()) return wrong(param, "an object", t);
  const json* type = field(t, "type");
  if (!type || !type->is_string() || type->get<std::string>() != "function")
    return bad(param + ".type", fmt::format("'{}.type' must be \"function\"", param));
  const json* fn = field(t, "function");
  if (!fn) return bad(param + ".function", fmt::format("'{}.function' is required", param));
  if (!fn->is_object()) return wrong(param + ".function", "an object", *fn);
  const json* name = field(*fn, "name");
  if (!name) return bad(param + ".function.name", fmt::format("'{}.function.name' is required", param));
  if (!name->is_string() || !valid_tool_name(name->get<std::string>()))
    return bad(param + ".function.name",
               fmt::format("'{}.function.name' must be 1 to 64 letters, digits, '_' or '-'", param));
  out.name = name->get<std::string>();
  if (const json* d = field(*fn, "description")) {
    if (!d->is_string()) return wrong(param + ".function.description", "a string", *d);
    out.description = d->get<std::string>();
  }
  if (const json* p = field(*fn, "parameters")) {
    if (Err e = check_schema(*p, param + ".function.parameters")) return e;
    out.parameters = p->dump();
  }
  if (const json* st = field(*fn, "strict"); st && !st->is_boolean())
    return wrong(param + ".function.strict", "a boolean", *st);
  return std::nullopt;
}

Err parse_tool_choice(const json& o, ApiRequest& r) {
  r.tool_choice.mode = r.tools.empty() ? ToolChoiceMode::none : ToolChoiceMode::auto_;
  const json* tc = field(o, "tool_choice");
  if (!tc) return std::nullopt;
  if (tc->is_string()) {
    const std::string v = tc->get<std::string>();
    if (v == "none") r.tool_choice.mode = ToolChoiceMode::none;
    else if (v == "auto") r.tool_choice.mode = ToolChoiceMode::auto_;
    else if (v == "required") r.tool_choice.mode = ToolChoiceMode::required;
    else return bad("tool_choice", fmt::format("'tool_choice' must be none, auto, required or a function, got '{}'", v));
  } else if (tc->is_object()) {
    const json* type = field(*tc, "type");
    const json* fn = field(*tc, "function");
    const json* name = fn && fn->is_object() ? field(*fn, "name") : nullptr;
    if (!type || !type->is_string() || type->get<std::string>() != "function" || !name || !name->is_string())
      return bad("tool_choice", "'tool_choice' as an object must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
    r.tool_choice.mode = ToolChoiceMode::named;
    r.tool_choice.name = name->get<std::string>();
  } else {
    return wrong("tool_choice", "a string or an object", *tc);
  }
  if (r.tools.empty() && r.tool_choice.mode != ToolChoiceMode::none && r.tool_choice.mode != ToolChoiceMode::auto_)
    return bad("tool_choice", "'tool_choice' requires 'tools'");
  if (r.tool_choice.mode == ToolChoiceMode::named) {
    bool found = false;
    for (const auto& t : r.tools) found = found || t.name == r.tool_choice.name;
    if (!found)
      return bad("tool_choice", fmt::format("'tool_choice' names the function '{}', which is not in 'tools'", r.tool_choice.name));
  }
  return std::nullopt;
}

}  // namespace

Err check_schema(const json& s, const std::string& param) {
  if (s.is_boolean()) return std::nullopt;  // true / false are schemas
  if (!s.is_object()) return bad(param, fmt::format("'{}' must be a JSON schema (an object), got {}", param, kind_name(s)));
  if (const json* t = field(s, "type")) {
    bool ok = type_name_ok(*t);
    if (t->is_array()) {
      ok = !t->empty();
      for (const auto& e : *t) ok = ok && type_name_ok(e);
    }
    if (!ok) return bad(param + ".type", fmt::format("'{}.type' must be a JSON schema type name or a list of them", param));
  }
  if (const json* p = field(s, "properties")) {
    if (!p->is_object()) return wrong(param + ".properties", "an object of schemas", *p);
    for (const auto& [k, v] : p->items())
      if (Err e = check_schema(v, param + ".properties." + k)) return e;
  }
  if (const json* req = field(s, "required")) {
    bool ok = req->is_array();
    if (ok)
      for (const auto& e : *req) ok = ok && e.is_string();
    if (!ok) return bad(param + ".required", fmt::format("'{}.required' must be an array of strings", param));
  }
  if (const json* it = field(s, "items"))
    if (Err e = check_schema(*it, param + ".items")) return e;
  if (const json* ap = field(s, "additionalProperties"))
    if (Err e = check_schema(*ap, param + ".additionalProperties")) return e;
  if (const json* en = field(s, "enum"); en && (!en->is_array() || en->empty()))
    return bad(param + ".enum", fmt::format("'{}.enum' must be a non-empty array", param));
  for (const char* k : {"anyOf", "oneOf", "allOf"})
    if (Err e = schema_list(s, k, param)) return e;
  for (const char* k : {"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"})
    if (Err e = schema_count(s, k, param)) return e;
  return std::nullopt;
}

Err parse_tools(const json& o, ApiRequest& r) {
  if (const json* ts = field(o, "tools")) {
    if (!ts->is_array()) return wrong("tools", "an array of functions", *ts);
    std::set<std::string> names;
    for (size_t i = 0; i < ts->size(); ++i) {
      ApiTool t;
      const std::string param = fmt::format("tools[{}]", i);
      if (Err e = parse_tool((*ts)[i], param, t)) return e;
      if (!names.insert(t.name).second)
        return bad(param + ".function.name", fmt::format("the function name '{}' appears twice in 'tools'", t.name));
      r.tools.push_back(std::move(t));
    }
  }
  if (Err e = parse_tool_choice(o, r)) return e;
  if (const json* p = field(o, "parallel_tool_calls")) {
    if (!p->is_boolean()) return wrong("parallel_tool_calls", "a boolean", *p);
    r.parallel_tool_calls = p->get<bool>();
  }
  return std::nullopt;
}

Err parse_message_tools(const json& m, const std::string& param, ApiMessage& msg) {
  if (const json* tcs = field(m, "tool_calls")) {
    const std::string p = param + ".tool_calls";
    if (msg.role != "assistant") return bad(p, fmt::format("'{}' is only allowed in assistant messages", p));
    if (!tcs->is_array()) return wrong(p, "an array", *tcs);
    for (size_t i = 0; i < tcs->size(); ++i) {
      const json& tc = (*tcs)[i];
      const std::string q = fmt::format("{}[{}]", p, i);
      if (!tc.is_object()) return wrong(q, "an object", tc);
      if (const json* id = field(tc, "id"); id && !id->is_string()) return wrong(q + ".id", "a string", *id);
      if (const json* type = field(tc, "type"); type && (!type->is_string() || type->get<std::string>() != "function"))
        return bad(q + ".type", fmt::format("'{}.type' must be \"function\"", q));
      const json* fn = field(tc, "function");
      if (!fn || !fn->is_object()) return bad(q + ".function", fmt::format("'{}.function' must be an object", q));
      const json* name = field(*fn, "name");
      if (!name || !name->is_string()) return bad(q + ".function.name", fmt::format("'{}.function.name' must be a string", q));
      const json* args = field(*fn, "arguments");
      if (args && !args->is_string() && !args->is_object())
        return wrong(q + ".function.arguments", "a string (JSON) or an object", *args);
    }
    msg.n_tool_calls = tcs->size();
  }
  if (const json* id = field(m, "tool_call_id")) {
    if (!id->is_string()) return wrong(param + ".tool_call_id", "a string", *id);
    msg.tool_call_id = id->get<std::string>();
  }
  if (msg.role == "tool" && msg.tool_call_id.empty())
    return bad(param + ".tool_call_id", fmt::format("'{}.tool_call_id' is required for role 'tool'", param));
  return std::nullopt;
}

}  // namespace shardlm::http::detail
