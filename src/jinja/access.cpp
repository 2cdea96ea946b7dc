// Jinja interpreter: attributes (and bound methods of str, dict and list), items,
// slices, iteration and len().
#include <algorithm>

#include "jinja/interp.h"
#include "jinja/text-util.h"

namespace shardlm::jinja {

namespace {

std::string obj_repr(const Value& o) { return o.is_none() ? "None" : o.type_name(); }

Value no_attr(const Value& o, const std::string& name) {
  return Value::undefined("'" + obj_repr(o) + "' has no attribute '" + name + "'");
}

const std::string* opt_str(const CallArgs& a, size_t i, const char* name) {
  const Value* v = a.get(i, name);
  return v && v->is_string() ? &v->as_string() : nullptr;
}

int64_t opt_int(const CallArgs& a, size_t i, const char* name, int64_t def) {
  const Value* v = a.get(i, name);
  return v && (v->is_int() || v->is_bool()) ? v->as_int() : def;
}

Result<std::string> need_str(const CallArgs& a, size_t i, const char* method) {
  const Value* v = a.get(i, "");
  if (!v || !v->is_string()) return type_error(std::string(method) + "() argument must be str");
  return v->as_string();
}

// startswith/endswith take a str or a tuple of str.
Result<Value> affix(const std::string& s, const CallArgs& a, bool start) {
  const Value* v = a.get(0, "");
  if (!v) return type_error(std::string(start ? "startswith" : "endswith") + "() takes at least 1 argument (0 given)");
  ValueList opts = v->is_list() ? v->as_list() : ValueList{*v};
  for (const auto& o : opts) {
    if (!o.is_string()) return type_error(std::string(start ? "startswith" : "endswith") + " first arg must be str or a tuple of str");
    const std::string& p = o.as_string();
    if (p.size() <= s.size() && (start ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0))
      return Value(true);
  }
  return Value(false);
}

Result<Value> str_method(const std::string& s, const std::string& m, const CallArgs& a) {
  if (m == "strip" || m == "lstrip" || m == "rstrip")
    return Value(py_strip(s, opt_str(a, 0, "chars"), m != "rstrip", m != "lstrip"));
  if (m == "split" || m == "rsplit") {
    ValueList l;
    for (auto& p : py_split(s, opt_str(a, 0, "sep"), opt_int(a, 1, "maxsplit", -1))) l.emplace_back(std::move(p));
    return Value(std::move(l));
  }
  if (m == "startswith" || m == "endswith") return affix(s, a, m == "startswith");
  if (m == "upper") return Value(py_upper(s));
  if (m == "lower") return Value(py_lower(s));
  if (m == "title") return Value(py_title(s));
  if (m == "capitalize") return Value(py_capitalize(s));
  if (m == "replace") {
    auto from = need_str(a, 0, "replace");
    auto to = need_str(a, 1, "replace");
    if (!from) return from.status();
    if (!to) return to.status();
    return Value(py_replace(s, *from, *to, opt_int(a, 2, "count", -1)));
  }
  if (m == "find" || m == "count" || m == "index") {
    auto sub = need_str(a, 0, m.c_str());
    if (!sub) return sub.status();
    if (m == "count") {
      int64_t n = 0;
      for (size_t p = s.find(*sub); p != std::string::npos && !sub->empty(); p = s.find(*sub, p + sub->size())) ++n;
      return Value(sub->empty() ? static_cast<int64_t>(utf8_length(s)) + 1 : n);
    }
    size_t p = s.find(*sub);
    if (p == std::string::npos) return m == "find" ? Result<Value>(Value(-1)) : Result<Value>(Status::error("ValueError: substring not found"));
    return Value(static_cast<int64_t>(utf8_length(s.substr(0, p))));
  }
  if (m == "join") {
    const Value* v = a.get(0, "");
    if (!v) return type_error("join() takes exactly one argument");
    auto items = iterate(*v);
    if (!items) return items.status();
    std::string r;
    for (size_t i = 0; i < items->size(); ++i) {
      if (!(*items)[i].is_string()) return type_error("sequence item " + std::to_string(i) + ": expected str instance");
      r += (i ? s : "") + (*items)[i].as_string();
    }
    return Value(std::move(r));
  }
  if (m == "isdigit" || m == "isspace" || m == "isalpha" || m == "isalnum") {
    if (s.empty()) return Value(false);
    for (uint32_t c : utf8_decode(s)) {
      const bool d = c >= '0' && c <= '9', al = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      const bool ok = m == "isdigit" ? d : m == "isspace" ? py_isspace(c) : m == "isalpha" ? al : (al || d);
      if (!ok) return Value(false);
    }
    return Value(true);
  }
  return Status::error("internal: unknown str method " + m);
}

bool is_str_method(const std::string& m) {
  static const char* ms[] = {"strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "upper",
                             "lower", "title", "capitalize", "replace", "find", "count", "index", "join",
                             "isdigit", "isspace", "isalpha", "isalnum"};
  for (const char* x : ms)
    if (m == x) return true;
  return false;
}

Result<Value> dict_method(const Value& d, const std::string& m, const CallArgs& a) {
  if (m == "items") {
    ValueList l;
    for (const auto& [k, v] : d.as_dict()) l.push_back(Value::tuple({Value(k), v}));
    return Value(std::move(l));
  }
  if (m == "keys" || m == "values") {
    ValueList l;
    for (const auto& [k, v] : d.as_dict()) l.push_back(m == "keys" ? Value(k) : v);
    return Value(std::move(l));
  }
  // get(key, default=None)
  const Value* k = a.get(0, "key");
  if (!k) return type_error("get expected at least 1 argument, got 0");
  const Value* v = k->is_string() ? d.find(k->as_string()) : nullptr;
  if (v) return *v;
  const Value* def = a.get(1, "default");
  return def ? *def : Value::none();
}

Value bound(const Value& self, const std::string& m) {
  if (self.is_string())
    return Value::function("str." + m, [s = self.as_string(), m](const CallArgs& a) { return str_method(s, m, a); });
  return Value::function("dict." + m, [self, m](const CallArgs& a) { return dict_method(self, m, a); });
}

}  // namespace

Result<Value> get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) return undefined_error(obj);
  if (obj.is_string() && is_str_method(name)) return bound(obj, name);
  if (obj.is_dict() && !obj.is_namespace() && (name == "items" || name == "keys" || name == "values" || name == "get"))
    return bound(obj, name);
  if (obj.is_dict() && !obj.is_namespace()) {
    static const char* unsafe[] = {"pop", "popitem", "update", "setdefault", "clear"};
    for (const char* u : unsafe)
      if (name == u) return Status::error("SecurityError: access to attribute '" + name + "' of 'dict' object is unsafe.");
  }
  if (obj.is_list()) {
    static const char* unsafe[] = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};
    for (const char* u : unsafe)
      if (name == u) return Status::error("SecurityError: access to attribute '" + name + "' of 'list' object is unsafe.");
  }
  if (obj.is_dict()) {
    if (const Value* v = obj.find(name)) return *v;
  }
  return no_attr(obj, name);
}

Result<Value> get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return undefined_error(obj);
  if (obj.is_dict() && key.is_string()) {
    if (const Value* v = obj.find(key.as_string())) return *v;
    if (obj.is_namespace()) return no_attr(obj, key.as_string());
  }
  if ((obj.is_list() && !obj.is_iterator()) || obj.is_string()) {
    if (key.is_int() || key.is_bool()) {
      const int64_t n = obj.is_string() ? static_cast<int64_t>(utf8_length(obj.as_string())) : static_cast<int64_t>(obj.as_list().size());
      int64_t i = key.as_int();
      if (i < 0) i += n;
      if (i >= 0 && i < n) {
        if (obj.is_list()) return obj.as_list()[static_cast<size_t>(i)];
        return Value(utf8_encode({utf8_decode(obj.as_string())[static_cast<size_t>(i)]}));
      }
      return Value::undefined(obj.type_name() + " has no element " + key.repr());
    }
  }
  if (key.is_string()) return get_attr(obj, key.as_string());
  return Value::undefined(obj_repr(obj) + " has no element " + key.repr());
}

Result<Value> get_slice(const Value& obj, const Value* start, const Value* stop, const Value* step) {
  if (obj.is_undefined()) return undefined_error(obj);
  const bool is_str = obj.is_string();
  if (!is_str && (!obj.is_list() || obj.is_iterator())) return type_error("'" + obj.type_name() + "' is not subscriptable");
  std::vector<uint32_t> cps;
  if (is_str) cps = utf8_decode(obj.as_string());
  const int64_t n = is_str ? static_cast<int64_t>(cps.size()) : static_cast<int64_t>(obj.as_list().size());
  auto num = [](const Value* v, int64_t def) -> Result<int64_t> {
    if (!v || v->is_none()) return def;
    if (!v->is_int() && !v->is_bool()) return type_error("slice indices must be integers or None");
    return v->as_int();
  };
  auto st = num(step, 1);
  if (!st) return st.status();
  if (*st == 0) return Status::error("ValueError: slice step cannot be zero");
  const int64_t k = *st;
  auto b = num(start, k > 0 ? 0 : n - 1);
  auto e = num(stop, k > 0 ? n : -n - 1);
  if (!b) return b.status();
  if (!e) return e.status();
  auto clamp = [&](int64_t i, bool is_start) {
    if (i < 0) i += n;
    if (k > 0) return std::clamp<int64_t>(i, 0, n);
    (void)is_start;
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  int64_t i0 = (start && !start->is_none()) ? clamp(*b, true) : *b;
  int64_t i1 = (stop && !stop->is_none()) ? clamp(*e, false) : (k > 0 ? n : -1);
  std::vector<uint32_t> rc;
  ValueList rl;
  for (int64_t i = i0; k > 0 ? i < i1 : i > i1; i += k) {
    if (is_str) rc.push_back(cps[static_cast<size_t>(i)]);
    else rl.push_back(obj.as_list()[static_cast<size_t>(i)]);
  }
  if (is_str) return Value(utf8_encode(rc));
  return Value(std::move(rl));
}

Result<ValueList> iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::undefined: return ValueList{};
    case Kind::list: return v.as_list();
    case Kind::dict: {
      if (v.is_namespace()) break;
      ValueList l;
      for (const auto& kv : v.as_dict()) l.emplace_back(kv.first);
      return l;
    }
    case Kind::string: {
      ValueList l;
      for (uint32_t cp : utf8_decode(v.as_string())) l.emplace_back(utf8_encode({cp}));
      return l;
    }
    default: break;
  }
  return type_error("'" + (v.is_none() ? std::string("NoneType") : v.type_name().substr(0, v.type_name().find(' '))) + "' object is not iterable");
}

Result<int64_t> length_of(const Value& v) {
  switch (v.kind()) {
    case Kind::undefined: return int64_t{0};
    case Kind::string: return static_cast<int64_t>(utf8_length(v.as_string()));
    case Kind::list:
      if (!v.is_iterator()) return static_cast<int64_t>(v.as_list().size());
      break;
    case Kind::dict: return static_cast<int64_t>(v.as_dict().size());
    default: break;
  }
  const std::string t = v.is_none() ? "NoneType" : v.type_name().substr(0, v.type_name().find(' '));
  return type_error("object of type '" + t + "' has no len()");
}

}  // namespace shardlm::jinja
