// Tool-call block bodies -> calls.
#include "toolcall/call-body.h"

#include <algorithm>
#include <random>

#include <nlohmann/json.hpp>

namespace shardlm::toolcall::detail {

namespace {

using ojson = nlohmann::ordered_json;
using Calls = std::vector<ToolCall>;

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n";
  const size_t a = s.find_first_not_of(ws);
  if (a == std::string_view::npos) return {};
  const size_t b = s.find_last_not_of(ws);
  return s.substr(a, b - a + 1);
}

std::optional<ojson> parse_json(std::string_view s) {
  auto j = ojson::parse(s.begin(), s.end(), nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

bool known(const std::vector<std::string>& names, const std::string& n) {
  return std::find(names.begin(), names.end(), n) != names.end();
}

// Arguments as an object (also an object written as a JSON string) -> compact text.
std::optional<std::string> arguments_text(const ojson& a) {
  if (a.is_object()) return a.dump(-1, ' ', false, ojson::error_handler_t::replace);
  if (a.is_string()) {
    auto inner = parse_json(a.get_ref<const std::string&>());
    if (inner && inner->is_object()) return inner->dump(-1, ' ', false, ojson::error_handler_t::replace);
  }
  return std::nullopt;
}

// {name_key: N, args_key: {...}} -> a call (names checked).
std::optional<ToolCall> object_call(const ojson& o, const std::vector<std::string>& names, const char* name_key,
                                    std::initializer_list<const char*> args_keys) {
  if (!o.is_object() || !o.contains(name_key) || !o[name_key].is_string()) return std::nullopt;
  ToolCall c;
  c.name = o[name_key].get<std::string>();
  if (!known(names, c.name)) return std::nullopt;
  const ojson* args = nullptr;
  for (const char* k : args_keys)
    if (o.contains(k)) {
      args = &o[k];
      break;
    }
  if (!args) return std::nullopt;
  auto text = arguments_text(*args);
  if (!text) return std::nullopt;
  c.arguments = std::move(*text);
  return c;
}

}  // namespace

size_t json_value_end(std::string_view s) {
  int depth = 0;
  bool in_str = false, esc = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    if (in_str) {
      if (esc) esc = false;
      else if (ch == '\\') esc = true;
      else if (ch == '"') in_str = false;
      continue;
    }
    if (ch == '"') in_str = true;
    else if (ch == '{' || ch == '[') ++depth;
    else if (ch == '}' || ch == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

namespace {

std::optional<Calls> json_objects(std::string_view body, const std::vector<std::string>& names) {
  Calls out;
  std::string_view rest = trim(body);
  while (!rest.empty()) {
    if (rest.front() != '{') return std::nullopt;
    const size_t end = json_value_end(rest);
    if (end == std::string_view::npos) return std::nullopt;
    auto j = parse_json(rest.substr(0, end));
    if (!j) return std::nullopt;
    auto c = object_call(*j, names, "name", {"parameters", "arguments"});
    if (!c) return std::nullopt;
    out.push_back(std::move(*c));
    rest = trim(rest.substr(end));
    if (!rest.empty() && (rest.front() == ';' || rest.front() == ',')) rest = trim(rest.substr(1));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// `tool.call(a="x", b=2)` (Llama 3.1's built-in tools).
std::optional<Calls> python_call(std::string_view body, const std::vector<std::string>& names) {
  body = trim(body);
  const size_t dot = body.find(".call(");
  if (dot == std::string_view::npos || body.back() != ')') return std::nullopt;
  ToolCall c;
  c.name = std::string(body.substr(0, dot));
  if (!known(names, c.name)) return std::nullopt;
  std::string_view args = body.substr(dot + 6, body.size() - dot - 7);
  ojson o = ojson::object();
  while (!(args = trim(args)).empty()) {
    const size_t eq = args.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string key(trim(args.substr(0, eq)));
    args = trim(args.substr(eq + 1));
    size_t end = 0;
    if (!args.empty() && args.front() == '"') {
      bool esc = false;
      for (end = 1; end < args.size(); ++end) {
        if (esc) esc = false;
        else if (args[end] == '\\') esc = true;
        else if (args[end] == '"') break;
      }
      if (end == args.size()) return std::nullopt;
      auto v = parse_json(args.substr(0, end + 1));
      if (!v) return std::nullopt;
      o[key] = *v;
      ++end;
    } else {
      end = std::min(args.find(','), args.size());
      std::string_view lit = trim(args.substr(0, end));
      auto v = parse_json(lit);
      o[key] = v ? *v : ojson(std::string(lit));
    }
    args = trim(args.substr(end));
    if (!args.empty() && args.front() == ',') args.remove_prefix(1);
  }
  c.arguments = o.dump(-1, ' ', false, ojson::error_handler_t::replace);
  return Calls{std::move(c)};
}

std::optional<Calls> object_array(std::string_view body, const std::vector<std::string>& names, const char* name_key,
                                  std::initializer_list<const char*> args_keys, bool keep_ids) {
  auto j = parse_json(trim(body));
  if (!j || !j->is_array() || j->empty()) return std::nullopt;
  Calls out;
  for (const auto& o : *j) {
    auto c = object_call(o, names, name_key, args_keys);
    if (!c) return std::nullopt;
    if (keep_ids && o.contains("id") && o["id"].is_string()) c->id = o["id"].get<std::string>();
    out.push_back(std::move(*c));
  }
  return out;
}

const std::string kDsCallBegin = "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>";  // <｜tool▁call▁begin｜>
const std::string kDsCallEnd = "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>";
const std::string kDsSep = "<\xef\xbd\x9ctool\xe2\x96\x81" "sep\xef\xbd\x9c>";

std::optional<Calls> deepseek_calls(std::string_view body, const std::vector<std::string>& names) {
  Calls out;
  std::string_view rest = trim(body);
  while (!rest.empty()) {
    if (rest.substr(0, kDsCallBegin.size()) != kDsCallBegin) return std::nullopt;
    rest.remove_prefix(kDsCallBegin.size());
    const size_t end = rest.find(kDsCallEnd);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view call = rest.substr(0, end);
    rest = trim(rest.substr(end + kDsCallEnd.size()));
    const size_t sep = call.find(kDsSep);
    if (sep == std::string_view::npos || trim(call.substr(0, sep)) != "function") return std::nullopt;
    call.remove_prefix(sep + kDsSep.size());
    const size_t nl = call.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    ToolCall c;
    c.name = std::string(trim(call.substr(0, nl)));
    std::string_view args = trim(call.substr(nl + 1));
    if (args.substr(0, 3) == "```") {
      const size_t line = args.find('\n');
      if (line == std::string_view::npos || args.size() < 6 || args.substr(args.size() - 3) != "```") return std::nullopt;
      args = trim(args.substr(line + 1, args.size() - 3 - line - 1));
    }
    auto j = parse_json(args);
    if (!known(names, c.name) || !j) return std::nullopt;
    auto text = arguments_text(*j);
    if (!text) return std::nullopt;
    c.arguments = std::move(*text);
    out.push_back(std::move(c));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// N<sep>{...}: a name up to `sep`, then a JSON object.
std::optional<Calls> name_then_json(std::string_view body, char sep, const std::vector<std::string>& names) {
  const size_t at = body.find(sep);
  if (at == std::string_view::npos) return std::nullopt;
  ToolCall c;
  c.name = std::string(trim(body.substr(0, at)));
  auto j = parse_json(trim(body.substr(at + 1)));
  if (!known(names, c.name) || !j) return std::nullopt;
  auto text = arguments_text(*j);
  if (!text) return std::nullopt;
  c.arguments = std::move(*text);
  return Calls{std::move(c)};
}

std::optional<Calls> cohere_array(std::string_view body, const std::vector<std::string>& names) {
  body = trim(body);
  if (body.substr(0, 3) == "```") {
    const size_t line = body.find('\n');
    if (line == std::string_view::npos) return std::nullopt;
    body = body.substr(line + 1);
    const size_t fence = body.rfind("```");
    if (fence != std::string_view::npos) body = body.substr(0, fence);
  }
  return object_array(body, names, "tool_name", {"parameters"}, false);
}

}  // namespace

std::optional<Calls> parse_body(BodyKind kind, std::string_view body, const std::vector<std::string>& names) {
  switch (kind) {
    case BodyKind::name_arguments_object: {
      auto j = parse_json(trim(body));
      if (!j) return std::nullopt;
      auto c = object_call(*j, names, "name", {"arguments", "parameters"});
      if (!c) return std::nullopt;
      return Calls{std::move(*c)};
    }
    case BodyKind::json_objects: return json_objects(body, names);
    case BodyKind::python_tag:
      if (!trim(body).empty() && trim(body).front() == '{') return json_objects(body, names);
      return python_call(body, names);
    case BodyKind::name_arguments_array: return object_array(body, names, "name", {"arguments", "parameters"}, true);
    case BodyKind::deepseek_calls: return deepseek_calls(body, names);
    case BodyKind::name_gt_json: return name_then_json(body, '>', names);
    case BodyKind::python_code: {
      if (!known(names, "python")) return std::nullopt;
      ToolCall c;
      c.name = "python";
      c.arguments = ojson{{"code", std::string(body)}}.dump(-1, ' ', false, ojson::error_handler_t::replace);
      return Calls{std::move(c)};
    }
    case BodyKind::name_newline_json: return name_then_json(body, '\n', names);
    case BodyKind::cohere_array: return cohere_array(body, names);
  }
  return std::nullopt;
}

std::string new_call_id(ToolFormat f) {
  static const char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const bool mistral = f == ToolFormat::mistral;
  std::string id = mistral ? "" : "call_";
  for (int i = 0; i < (mistral ? 9 : 24); ++i) id += kAlnum[rng() % (sizeof(kAlnum) - 1)];
  return id;
}

}  // namespace shardlm::toolcall::detail
