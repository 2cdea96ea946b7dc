// JSON schema -> Grammar nodes (see grammar.h for the supported subset): types,
// objects, arrays, strings, integers, enums, anyOf/oneOf. $ref and allOf: schema-refs.cpp.
#include <algorithm>
#include <cmath>

#include "grammar/schema-compiler.h"

namespace shardlm::grammar {

const std::set<std::string> kIgnored = {"title", "description", "$schema", "$comment", "examples", "default",
                                        "$id", "$defs", "definitions", "discriminator"};

namespace {

struct Group { const char* type; std::vector<std::string> keys; };
const Group kGroups[] = {
    {"object", {"properties", "required", "additionalProperties"}},
    {"array", {"items", "minItems", "maxItems"}},
    {"string", {"minLength", "maxLength", "pattern", "format"}},
    {"integer", {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}},
};

const std::set<std::string>& known_keywords() {
  static const std::set<std::string> k = [] {
    std::set<std::string> s = {"type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref"};
    for (const auto& g : kGroups) s.insert(g.keys.begin(), g.keys.end());
    return s;
  }();
  return k;
}

// Does a keyword group apply to type t? (numeric bounds: integer and number.)
bool group_applies(const Group& g, const std::string& t) {
  if (std::string(g.type) == "integer") return t == "integer" || t == "number";
  if (std::string(g.type) == "object") return t == "object" || t == "json_object";
  return t == g.type;
}

const char* first_of(const json& s, const Group& g) {
  for (const auto& k : g.keys)
    if (s.contains(k)) return k.c_str();
  return nullptr;
}

// A count keyword (minItems, maxLength, ...): a non-negative integer up to a million.
Status count_of(const json& s, const char* k, const std::string& at, uint32_t& out) {
  if (!s.contains(k)) return Status::ok();
  const json& v = s[k];
  const bool ok = v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  if (!ok || v.get<double>() < 0 || v.get<double>() > 1000000)
    return Status::errorf("'{}' at {} is not a count", k, Compiler::where(at));
  out = static_cast<uint32_t>(v.get<double>());
  return Status::ok();
}

// The integer bound of a numeric keyword value, clamped just outside the 15-digit range.
int64_t clamp_bound(double d) {
  const double lim = static_cast<double>(kMaxInteger) + 1;
  return static_cast<int64_t>(std::max(-lim, std::min(lim, d)));
}
int64_t floor_of(const json& v) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return clamp_bound(static_cast<double>(v.get<int64_t>()));
  return clamp_bound(std::floor(v.get<double>()));
}
int64_t ceil_of(const json& v) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return clamp_bound(static_cast<double>(v.get<int64_t>()));
  return clamp_bound(std::ceil(v.get<double>()));
}

bool type_matches(const json& v, const json& t) {
  if (t.is_array()) return std::any_of(t.begin(), t.end(), [&](const json& x) { return type_matches(v, x); });
  if (!t.is_string()) return false;
  const std::string n = t.get<std::string>();
  if (n == "string") return v.is_string();
  if (n == "number") return v.is_number();
  if (n == "integer") return v.is_number_integer();
  if (n == "boolean") return v.is_boolean();
  if (n == "null") return v.is_null();
  if (n == "object") return v.is_object();
  if (n == "array") return v.is_array();
  return false;
}

}  // namespace

void Compiler::trie_insert(uint32_t root, const std::string& text, int32_t id, uint64_t bit) {
  uint32_t at = root;
  g.tries[at].below |= bit;
  for (unsigned char c : text) {
    uint32_t nx = g.tries[at].child(c);
    if (nx == 0) {
      nx = new_trie();
      auto& v = g.tries[at].next;
      v.insert(std::upper_bound(v.begin(), v.end(), std::make_pair(c, 0u)), {c, nx});
    }
    at = nx;
    g.tries[at].below |= bit;
  }
  if (g.tries[at].terminal < 0) g.tries[at].terminal = id;
}

uint32_t Compiler::literal(const std::vector<std::string>& texts) {
  Node n; n.kind = NodeKind::Literal; n.trie = new_trie();
  const uint32_t id = add(std::move(n));
  for (size_t i = 0; i < texts.size(); ++i) trie_insert(g.nodes[id].trie, texts[i], static_cast<int32_t>(i), 0);
  return id;
}

uint32_t Compiler::any_value() {
  if (any_ != kNoNode) return any_;
  Node alt; alt.kind = NodeKind::AnyOf;
  any_ = add(alt);
  Node obj; obj.kind = NodeKind::AnyObject;
  Node arr; arr.kind = NodeKind::Array; arr.items = any_;
  Node str; str.kind = NodeKind::String;
  Node num; num.kind = NodeKind::Number;
  std::vector<uint32_t> alts = {add(obj), add(arr), add(str), add(num), literal({"true", "false", "null"})};
  g.nodes[any_].alts = std::move(alts);
  return any_;
}

Result<uint32_t> Compiler::node(const json& s, const std::string& at) {
  if (s.is_boolean()) {
    if (s.get<bool>()) return any_value();
    return Status::errorf("schema 'false' at {} accepts nothing", where(at));
  }
  if (!s.is_object()) return Status::errorf("schema at {} is not an object", where(at));
  for (const auto& [k, v] : s.items())
    if (!known_keywords().count(k) && !kIgnored.count(k))
      return Status::errorf("unsupported JSON schema keyword '{}' at {}", k, where(at));
  if (s.contains("$ref")) return ref(s, at);
  if (s.contains("allOf")) return all_of(s, at);
  if (s.contains("enum") || s.contains("const")) return enum_node(s, at);
  if (s.contains("anyOf")) return any_of(s, "anyOf", at);
  if (s.contains("oneOf")) return any_of(s, "oneOf", at);
  if (!s.contains("type")) {
    if (first_of(s, kGroups[0])) return object(s, at);
    if (first_of(s, kGroups[1])) return array(s, at);
    if (first_of(s, kGroups[2])) return string_schema(s, at);
    if (const char* k = first_of(s, kGroups[3])) return Status::errorf("'{}' at {} needs type integer", k, where(at));
    return any_value();
  }
  const json& t = s["type"];
  if (t.is_array()) {
    if (t.empty()) return Status::errorf("'type' at {} is an empty list", where(at));
    Node n; n.kind = NodeKind::AnyOf;
    for (const auto& one : t) {
      json copy = s; copy["type"] = one;
      if (one.is_string())  // each branch keeps only the keywords of its type
        for (const auto& gr : kGroups)
          if (!group_applies(gr, one.get<std::string>()))
            for (const auto& k : gr.keys) copy.erase(k);
      auto r = node(copy, at);
      if (!r) return r.status();
      n.alts.push_back(*r);
    }
    return add(std::move(n));
  }
  if (!t.is_string()) return Status::errorf("'type' at {} is not a string", where(at));
  return typed(s, t.get<std::string>(), at);
}

Result<uint32_t> Compiler::typed(const json& s, const std::string& t, const std::string& at) {
  for (const auto& gr : kGroups)
    if (const char* k = first_of(s, gr); k && !group_applies(gr, t))
      return Status::errorf("'{}' at {} needs type {}, not {}", k, where(at), gr.type, t);
  if (t == "object" || t == "json_object") return object(s, at);
  if (t == "array") return array(s, at);
  if (t == "string") return string_schema(s, at);
  if (t == "integer") return integer_schema(s, at);
  if (t == "number") {
    if (const char* k = first_of(s, kGroups[3]))
      return Status::errorf("unsupported '{}' at {}: bounds apply to type integer only, not number", k, where(at));
    Node n; n.kind = NodeKind::Number;
    return add(std::move(n));
  }
  if (t == "boolean") return literal({"true", "false"});
  if (t == "null") return literal({"null"});
  return Status::errorf("unknown type '{}' at {}", t, where(at));
}

Result<uint32_t> Compiler::object(const json& s, const std::string& at) {
  const bool has_props = s.contains("properties");
  const json* ap = s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
  if (ap && !ap->is_boolean() && !ap->is_object())
    return Status::errorf("'additionalProperties' at {} is not a schema", where(at));
  const bool strict = ap ? (ap->is_boolean() && !ap->get<bool>()) : has_props;
  if (!has_props) {
    if (s.contains("required") && !s["required"].empty())
      return Status::errorf("'required' at {} names properties that 'properties' does not list", where(at));
    if (!ap || *ap == json(true)) {  // any object
      Node n; n.kind = NodeKind::AnyObject;
      any_value();
      return add(std::move(n));
    }
  }
  Node n; n.kind = NodeKind::Object; n.trie = new_trie();
  const uint32_t id = add(std::move(n));
  if (has_props) SHARDLM_TRY(object_properties(s, id, at));
  if (!strict) {
    auto r = node(*ap, at + "/additionalProperties");
    if (!r) return r.status();
    g.nodes[id].additional = *r;
  }
  return id;
}

Status Compiler::object_properties(const json& s, uint32_t id, const std::string& at) {
  const json& props = s["properties"];
  if (!props.is_object()) return Status::errorf("'properties' at {} is not an object", where(at));
  if (props.size() > kMaxProperties)
    return Status::errorf("object at {} has {} properties (at most {})", where(at), props.size(), kMaxProperties);
  std::vector<std::string> names;
  for (const auto& [name, sub] : props.items()) {
    auto r = node(sub, at + "/properties/" + name);
    if (!r) return r.status();
    const uint64_t bit = uint64_t{1} << names.size();
    trie_insert(g.nodes[id].trie, json(name).dump(), static_cast<int32_t>(names.size()), bit);
    g.nodes[id].props.push_back(*r);
    g.nodes[id].all |= bit;
    names.push_back(name);
  }
  if (!s.contains("required")) return Status::ok();
  const json& req = s["required"];
  if (!req.is_array()) return Status::errorf("'required' at {} is not an array", where(at));
  for (const auto& r : req) {
    auto it = r.is_string() ? std::find(names.begin(), names.end(), r.get<std::string>()) : names.end();
    if (it == names.end())
      return Status::errorf("'required' at {} names {}, which 'properties' does not list", where(at), r.dump());
    g.nodes[id].required |= uint64_t{1} << (it - names.begin());
  }
  return Status::ok();
}

Result<uint32_t> Compiler::array(const json& s, const std::string& at) {
  Node n; n.kind = NodeKind::Array;
  SHARDLM_TRY(count_of(s, "minItems", at, n.min_items));
  SHARDLM_TRY(count_of(s, "maxItems", at, n.max_items));
  if (n.max_items != kUnbounded && n.min_items > n.max_items)
    return Status::errorf("minItems > maxItems at {}", where(at));
  uint32_t items = 0;
  if (s.contains("items")) {
    if (s["items"].is_array()) return Status::errorf("unsupported JSON schema keyword 'items' (a list) at {}", where(at));
    auto r = node(s["items"], at + "/items");
    if (!r) return r.status();
    items = *r;
  } else {
    items = any_value();
  }
  n.items = items;
  return add(std::move(n));
}

Result<uint32_t> Compiler::add_pattern(const std::string& source, const std::string& what, const std::string& at) {
  if (auto it = patterns_.find(source); it != patterns_.end()) return it->second;
  auto p = Pattern::compile(source);
  if (!p) return Status::errorf("'{}' at {}: {}", what, where(at), p.message());
  g.patterns.push_back(std::move(p.value()));
  const auto id = static_cast<uint32_t>(g.patterns.size() - 1);
  patterns_[source] = id;
  return id;
}

Result<uint32_t> Compiler::string_schema(const json& s, const std::string& at) {
  Node n; n.kind = NodeKind::String;
  SHARDLM_TRY(count_of(s, "minLength", at, n.min_len));
  SHARDLM_TRY(count_of(s, "maxLength", at, n.max_len));
  if (n.max_len != kUnbounded && n.min_len > n.max_len) return Status::errorf("minLength > maxLength at {}", where(at));
  if (s.contains("pattern")) {
    if (!s["pattern"].is_string()) return Status::errorf("'pattern' at {} is not a string", where(at));
    auto p = add_pattern(s["pattern"].get<std::string>(), "pattern", at);
    if (!p) return p.status();
    n.patterns.push_back(*p);
  }
  if (s.contains("format")) {
    const json& f = s["format"];
    const char* src = f.is_string() ? format_pattern(f.get<std::string>()) : nullptr;
    if (!src)
      return Status::errorf("unsupported format {} at {} (supported: date, time, date-time, uuid, email, ipv4)",
                            f.dump(), where(at));
    auto p = add_pattern(src, "format", at);
    if (!p) return p.status();
    n.patterns.push_back(*p);
  }
  return add(std::move(n));
}

Result<uint32_t> Compiler::integer_schema(const json& s, const std::string& at) {
  Node n; n.kind = NodeKind::Integer;
  int64_t lo = -kMaxInteger, hi = kMaxInteger;
  for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
    if (!s.contains(k)) continue;
    const json& v = s[k];
    if (v.is_boolean() && k[0] == 'e') continue;  // draft 4: a flag on minimum/maximum
    if (!v.is_number()) return Status::errorf("'{}' at {} is not a number", k, where(at));
  }
  auto flag = [&](const char* k) { return s.contains(k) && s[k].is_boolean() && s[k].get<bool>(); };
  if (s.contains("minimum")) lo = std::max(lo, flag("exclusiveMinimum") ? floor_of(s["minimum"]) + 1 : ceil_of(s["minimum"]));
  if (s.contains("maximum")) hi = std::min(hi, flag("exclusiveMaximum") ? ceil_of(s["maximum"]) - 1 : floor_of(s["maximum"]));
  if (s.contains("exclusiveMinimum") && s["exclusiveMinimum"].is_number())
    lo = std::max(lo, floor_of(s["exclusiveMinimum"]) + 1);
  if (s.contains("exclusiveMaximum") && s["exclusiveMaximum"].is_number())
    hi = std::min(hi, ceil_of(s["exclusiveMaximum"]) - 1);
  if (lo > hi)
    return Status::errorf("the bounds at {} allow no integer (of at most 15 digits)", where(at));
  n.bounded = lo > -kMaxInteger || hi < kMaxInteger;
  n.lo = std::max(lo, -kMaxInteger);
  n.hi = std::min(hi, kMaxInteger);
  return add(std::move(n));
}

Result<uint32_t> Compiler::any_of(const json& s, const char* key, const std::string& at) {
  const json& list = s[key];
  if (!list.is_array() || list.empty()) return Status::errorf("'{}' at {} is not a non-empty list", key, where(at));
  for (const auto& [k, v] : s.items())
    if (k != key && !kIgnored.count(k)) return Status::errorf("unsupported '{}' next to '{}' at {}", k, key, where(at));
  Node n; n.kind = NodeKind::AnyOf;
  for (size_t i = 0; i < list.size(); ++i) {
    auto r = node(list[i], at + "/" + key + "/" + std::to_string(i));
    if (!r) return r.status();
    n.alts.push_back(*r);
  }
  return add(std::move(n));
}

Result<uint32_t> Compiler::enum_node(const json& s, const std::string& at) {
  for (const auto& [k, v] : s.items())
    if (k != "enum" && k != "const" && k != "type" && !kIgnored.count(k))
      return Status::errorf("unsupported '{}' next to 'enum'/'const' at {}", k, where(at));
  std::vector<json> values;
  if (s.contains("const")) values.push_back(s["const"]);
  if (s.contains("enum")) {
    if (!s["enum"].is_array()) return Status::errorf("'enum' at {} is not a list", where(at));
    for (const auto& v : s["enum"])
      if (!s.contains("const") || v == s["const"]) values.push_back(v);
    if (s.contains("const")) values.resize(values.size() > 1 ? 1 : 0);
  }
  std::vector<std::string> texts;
  for (const auto& v : values)
    if (!s.contains("type") || type_matches(v, s["type"])) texts.push_back(v.dump());
  if (texts.empty()) return Status::errorf("'enum'/'const' at {} allows no value", where(at));
  return literal(texts);
}

Result<std::shared_ptr<const Grammar>> compile(const nlohmann::json& schema) {
  Compiler c(schema);
  c.new_trie();  // trie node 0: never a child (TrieNode::child returns 0 for none)
  auto r = c.node(schema, "");
  if (!r) return r.status().with_context("response schema");
  SHARDLM_TRY(c.check_cycles().with_context("response schema"));
  c.g.root = *r;
  c.g.any = c.any_index();
  return std::shared_ptr<const Grammar>(std::make_shared<Grammar>(std::move(c.g)));
}

}  // namespace shardlm::grammar
