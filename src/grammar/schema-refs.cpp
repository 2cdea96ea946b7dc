// $ref (local JSON pointers, compiled once each so that recursion is a cycle in the
// node graph), allOf (merged where that is exact), and the check that no cycle of
// $ref/anyOf nodes can be entered without reading a byte.
#include <algorithm>
#include <functional>

#include "grammar/schema-compiler.h"

namespace shardlm::grammar {
namespace {

bool from_hex(char c, int& v) {
  if (c >= '0' && c <= '9') { v = c - '0'; return true; }
  c = static_cast<char>(c | 0x20);
  if (c >= 'a' && c <= 'f') { v = c - 'a' + 10; return true; }
  return false;
}

// A URI fragment's %XX escapes decoded; false when one is malformed.
bool percent_decode(const std::string& in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') { out.push_back(in[i]); continue; }
    int hi = 0, lo = 0;
    if (i + 2 >= in.size() || !from_hex(in[i + 1], hi) || !from_hex(in[i + 2], lo)) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

Status only_annotations_beside(const json& s, const char* key, const std::string& at) {
  for (const auto& [k, v] : s.items())
    if (k != key && !kIgnored.count(k))
      return Status::errorf("unsupported '{}' next to '{}' at {}", k, key, Compiler::where(at));
  return Status::ok();
}

}  // namespace

Result<const json*> Compiler::resolve(const std::string& ref, const std::string& at) const {
  if (ref.empty() || ref[0] != '#')
    return Status::errorf("remote $ref '{}' at {} is not supported (only local references such as '#/$defs/NAME')", ref,
                          where(at));
  std::string frag;
  if (!percent_decode(ref.substr(1), frag)) return Status::errorf("$ref '{}' at {} has a malformed %-escape", ref, where(at));
  if (frag.empty()) return &root_;
  if (frag[0] != '/')
    return Status::errorf("$ref '{}' at {} is not a JSON pointer (anchors are not supported)", ref, where(at));
  try {
    const json::json_pointer p(frag);
    if (!root_.contains(p)) return static_cast<const json*>(nullptr);
    return &root_.at(p);
  } catch (const json::exception&) {
    return static_cast<const json*>(nullptr);  // e.g. a non-numeric index into an array: nowhere
  }
}

Result<uint32_t> Compiler::ref(const json& s, const std::string& at) {
  const json& r = s["$ref"];
  if (!r.is_string()) return Status::errorf("'$ref' at {} is not a string", where(at));
  SHARDLM_TRY(only_annotations_beside(s, "$ref", at));
  const std::string text = r.get<std::string>();
  if (auto it = refs_.find(text); it != refs_.end()) return it->second;
  auto target = resolve(text, at);
  if (!target) return target.status();
  if (!*target) return Status::errorf("$ref '{}' at {} points nowhere in the schema", text, where(at));
  Node placeholder; placeholder.kind = NodeKind::AnyOf;  // one alternative: the target, once compiled
  const uint32_t id = add(std::move(placeholder));
  refs_[text] = id;
  ref_at_[id] = where(at);
  auto n = node(**target, text);
  if (!n) return n.status();
  g.nodes[id].alts = {*n};
  return id;
}

Result<uint32_t> Compiler::all_of(const json& s, const std::string& at) {
  const json& list = s["allOf"];
  if (!list.is_array() || list.empty()) return Status::errorf("'allOf' at {} is not a non-empty list", where(at));
  json rest = s;
  rest.erase("allOf");
  for (const auto& k : kIgnored) rest.erase(k);
  std::vector<std::pair<const json*, std::string>> members;
  if (!rest.empty()) members.emplace_back(&rest, at);
  for (size_t i = 0; i < list.size(); ++i) members.emplace_back(&list[i], at + "/allOf/" + std::to_string(i));
  if (members.size() == 1) return node(*members[0].first, members[0].second);

  // Several members: each an object schema (after its own $ref); properties must agree.
  json props = json::object(), required = json::array();
  bool any_props = false;
  const json* extra = nullptr;           // the additionalProperties of the members that have one
  std::vector<const json*> closed;       // members with additionalProperties: their properties
  for (auto [m, m_at] : members) {
    for (int hops = 0; m->is_object() && m->contains("$ref"); ++hops) {
      if (hops == 16) return Status::errorf("allOf at {}: $ref chain longer than 16 at {}", where(at), m_at);
      SHARDLM_TRY(only_annotations_beside(*m, "$ref", m_at));
      if (!(*m)["$ref"].is_string()) return Status::errorf("'$ref' at {} is not a string", m_at);
      const std::string text = (*m)["$ref"].get<std::string>();
      auto t = resolve(text, m_at);
      if (!t) return t.status();
      if (!*t) return Status::errorf("$ref '{}' at {} points nowhere in the schema", text, m_at);
      m = *t;
      m_at = text;
    }
    if (m->is_boolean() && m->get<bool>()) continue;
    if (!m->is_object()) return Status::errorf("allOf at {}: the member at {} is not a schema object", where(at), m_at);
    for (const auto& [k, v] : m->items()) {
      if (kIgnored.count(k)) continue;
      if (k == "type") {
        if (v != json("object"))
          return Status::errorf("unsupported allOf at {}: the member at {} has type {}; only object members merge",
                                where(at), m_at, v.dump());
      } else if (k == "properties" && v.is_object()) {
        any_props = true;
        for (const auto& [name, sub] : v.items()) {
          if (props.contains(name) && props[name] != sub)
            return Status::errorf("unsupported allOf at {}: property '{}' differs between members", where(at), name);
          props[name] = sub;
        }
      } else if (k == "required" && v.is_array()) {
        for (const auto& r : v)
          if (std::find(required.begin(), required.end(), r) == required.end()) required.push_back(r);
      } else if (k == "additionalProperties") {
        if (extra && *extra != v)
          return Status::errorf("unsupported allOf at {}: members differ in additionalProperties", where(at));
        extra = &v;
        closed.push_back(m->contains("properties") ? &(*m)["properties"] : nullptr);
      } else {
        return Status::errorf("unsupported allOf at {}: '{}' of the member at {} does not merge (only type object, "
                              "properties, required, additionalProperties)", where(at), k, m_at);
      }
    }
  }
  for (const json* c : closed)
    for (const auto& [name, sub] : props.items())
      if (!c || !c->contains(name))
        return Status::errorf("unsupported allOf at {}: a member with additionalProperties does not list property '{}'",
                              where(at), name);
  json merged = {{"type", "object"}};
  if (any_props) merged["properties"] = props;
  if (!required.empty()) merged["required"] = required;
  if (extra) merged["additionalProperties"] = *extra;
  return node(merged, at);
}

Status Compiler::check_cycles() const {
  // A cycle of anyOf nodes (a $ref is one with a single alternative) is entered and
  // re-entered before any byte is read: GrammarState would recurse forever.
  std::vector<uint8_t> color(g.nodes.size(), 0);  // 0 new, 1 on the path, 2 done
  std::string cycle_at;
  std::function<bool(uint32_t)> visit = [&](uint32_t v) {
    color[v] = 1;
    for (uint32_t a : g.nodes[v].alts) {
      if (g.nodes[a].kind != NodeKind::AnyOf) continue;
      if (color[a] == 1 || (color[a] == 0 && visit(a))) {
        if (cycle_at.empty() && ref_at_.count(a)) cycle_at = ref_at_.at(a);
        return true;
      }
    }
    color[v] = 2;
    return false;
  };
  for (uint32_t v = 0; v < g.nodes.size(); ++v)
    if (g.nodes[v].kind == NodeKind::AnyOf && color[v] == 0 && visit(v))
      return Status::errorf("$ref at {} refers back to itself without any input in between (a cycle of $ref/anyOf)",
                            cycle_at.empty() ? "/" : cycle_at);
  return Status::ok();
}

}  // namespace shardlm::grammar
