// JSON schema -> Grammar nodes (see grammar.h for the supported subset).
#include <algorithm>
#include <set>

#include "grammar/grammar-nodes.h"

namespace shardlm::grammar {
namespace {

using nlohmann::json;

const std::set<std::string> kIgnored = {"title", "description", "$schema", "$comment", "examples", "default", "$id"};

class Compiler {
 public:
  Grammar g;

  uint32_t add(Node n) { g.nodes.push_back(std::move(n)); return static_cast<uint32_t>(g.nodes.size() - 1); }

  uint32_t new_trie() { g.tries.emplace_back(); return static_cast<uint32_t>(g.tries.size() - 1); }

  void trie_insert(uint32_t root, const std::string& text, int32_t id, uint64_t bit) {
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

  uint32_t literal(const std::vector<std::string>& texts) {
    Node n; n.kind = NodeKind::Literal; n.trie = new_trie();
    const uint32_t id = add(std::move(n));
    for (size_t i = 0; i < texts.size(); ++i) trie_insert(g.nodes[id].trie, texts[i], static_cast<int32_t>(i), 0);
    return id;
  }

  uint32_t any_value() {
    if (any_ != kUnbounded) return any_;
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

  Result<uint32_t> node(const json& s, const std::string& at) {
    if (s.is_boolean()) {
      if (s.get<bool>()) return any_value();
      return Status::errorf("schema 'false' at {} accepts nothing", where(at));
    }
    if (!s.is_object()) return Status::errorf("schema at {} is not an object", where(at));
    for (const auto& [k, v] : s.items()) {
      static const std::set<std::string> known = {"type", "properties", "required", "additionalProperties",
          "enum", "const", "items", "minItems", "maxItems", "anyOf"};
      if (!known.count(k) && !kIgnored.count(k))
        return Status::errorf("unsupported JSON schema keyword '{}' at {}", k, where(at));
    }
    if (s.contains("enum") || s.contains("const")) return enum_node(s, at);
    if (s.contains("anyOf")) return any_of(s, at);
    if (!s.contains("type")) {
      for (const char* k : {"properties", "required", "additionalProperties"})
        if (s.contains(k)) return object(s, at);
      for (const char* k : {"items", "minItems", "maxItems"})
        if (s.contains(k)) return array(s, at);
      return any_value();
    }
    const json& t = s["type"];
    if (t.is_array()) {
      if (t.empty()) return Status::errorf("'type' at {} is an empty list", where(at));
      Node n; n.kind = NodeKind::AnyOf;
      for (const auto& one : t) {
        json copy = s; copy["type"] = one;
        auto r = node(copy, at);
        if (!r) return r.status();
        n.alts.push_back(*r);
      }
      return add(std::move(n));
    }
    if (!t.is_string()) return Status::errorf("'type' at {} is not a string", where(at));
    return typed(s, t.get<std::string>(), at);
  }

  Result<uint32_t> typed(const json& s, const std::string& t, const std::string& at) {
    if (t == "object" || t == "json_object") return object(s, at);
    for (const char* k : {"properties", "required", "additionalProperties"})
      if (s.contains(k)) return Status::errorf("'{}' at {} needs type object, not {}", k, where(at), t);
    if (t == "array") return array(s, at);
    for (const char* k : {"items", "minItems", "maxItems"})
      if (s.contains(k)) return Status::errorf("'{}' at {} needs type array, not {}", k, where(at), t);
    Node n;
    if (t == "string") n.kind = NodeKind::String;
    else if (t == "number") n.kind = NodeKind::Number;
    else if (t == "integer") n.kind = NodeKind::Integer;
    else if (t == "boolean") return literal({"true", "false"});
    else if (t == "null") return literal({"null"});
    else return Status::errorf("unknown type '{}' at {}", t, where(at));
    return add(std::move(n));
  }

  Result<uint32_t> object(const json& s, const std::string& at) {
    const bool has_props = s.contains("properties");
    if (s.contains("additionalProperties")) {
      const json& a = s["additionalProperties"];
      if (!a.is_boolean())
        return Status::errorf("unsupported JSON schema keyword 'additionalProperties' (a schema) at {}", where(at));
      if (a.get<bool>() && has_props)
        return Status::errorf("unsupported 'additionalProperties': true next to 'properties' at {}", where(at));
    }
    if (!has_props) {
      if (s.contains("required") && !s["required"].empty())
        return Status::errorf("'required' at {} names properties that 'properties' does not list", where(at));
      if (s.value("additionalProperties", true) == false) {  // only {}
        Node n; n.kind = NodeKind::Object; n.trie = new_trie();
        return add(std::move(n));
      }
      Node n; n.kind = NodeKind::AnyObject;
      any_value();
      return add(std::move(n));
    }
    const json& props = s["properties"];
    if (!props.is_object()) return Status::errorf("'properties' at {} is not an object", where(at));
    if (props.size() > kMaxProperties)
      return Status::errorf("object at {} has {} properties (at most {})", where(at), props.size(), kMaxProperties);
    Node n; n.kind = NodeKind::Object; n.trie = new_trie();
    const uint32_t id = add(std::move(n));
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
    if (s.contains("required")) {
      const json& req = s["required"];
      if (!req.is_array()) return Status::errorf("'required' at {} is not an array", where(at));
      for (const auto& r : req) {
        auto it = r.is_string() ? std::find(names.begin(), names.end(), r.get<std::string>()) : names.end();
        if (it == names.end())
          return Status::errorf("'required' at {} names {}, which 'properties' does not list", where(at), r.dump());
        g.nodes[id].required |= uint64_t{1} << (it - names.begin());
      }
    }
    return id;
  }

  Result<uint32_t> array(const json& s, const std::string& at) {
    Node n; n.kind = NodeKind::Array;
    for (const char* k : {"minItems", "maxItems"}) {
      if (!s.contains(k)) continue;
      if (!s[k].is_number_integer() || s[k].get<int64_t>() < 0 || s[k].get<int64_t>() > 1000000)
        return Status::errorf("'{}' at {} is not a count", k, where(at));
      (k[1] == 'i' ? n.min_items : n.max_items) = s[k].get<uint32_t>();
    }
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

  Result<uint32_t> any_of(const json& s, const std::string& at) {
    const json& list = s["anyOf"];
    if (!list.is_array() || list.empty()) return Status::errorf("'anyOf' at {} is not a non-empty list", where(at));
    for (const auto& [k, v] : s.items())
      if (k != "anyOf" && !kIgnored.count(k))
        return Status::errorf("unsupported '{}' next to 'anyOf' at {}", k, where(at));
    Node n; n.kind = NodeKind::AnyOf;
    for (size_t i = 0; i < list.size(); ++i) {
      auto r = node(list[i], at + "/anyOf/" + std::to_string(i));
      if (!r) return r.status();
      n.alts.push_back(*r);
    }
    return add(std::move(n));
  }

  Result<uint32_t> enum_node(const json& s, const std::string& at) {
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

  static bool type_matches(const json& v, const json& t) {
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

  static std::string where(const std::string& at) { return at.empty() ? "/" : at; }

 uint32_t any_index() const { return any_ == kUnbounded ? 0 : any_; }

 private:
  uint32_t any_ = kUnbounded;
};

}  // namespace

Result<std::shared_ptr<const Grammar>> compile(const nlohmann::json& schema) {
  Compiler c;
  c.new_trie();  // trie node 0: never a child (TrieNode::child returns 0 for none)
  auto r = c.node(schema, "");
  if (!r) return r.status().with_context("response schema");
  c.g.root = *r;
  c.g.any = c.any_index();
  return std::shared_ptr<const Grammar>(std::make_shared<Grammar>(std::move(c.g)));
}

}  // namespace shardlm::grammar
