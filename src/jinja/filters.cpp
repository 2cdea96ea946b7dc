// Jinja interpreter: filters (`x | NAME(args)`), as Jinja2 defines them; tojson as
// transformers overrides it (json.dumps with ensure_ascii=False, no HTML escaping).
#include <algorithm>
#include <cmath>
#include <map>

#include "jinja/interp.h"
#include "jinja/text-util.h"

namespace shardlm::jinja {

namespace {

using FilterFn = Result<Value> (*)(Interpreter&, const Value&, const CallArgs&);

bool arg_true(const CallArgs& a, size_t i, const char* name, bool def = false) {
  const Value* v = a.get(i, name);
  return v ? v->truthy() : def;
}

// Jinja2's attribute getter: "a.b.0" looks up each part as an item (ints as ints).
Result<Value> attr_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t b = 0;
  while (b <= path.size()) {
    size_t e = path.find('.', b);
    if (e == std::string::npos) e = path.size();
    std::string part = path.substr(b, e - b);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    auto r = get_item(cur, digits ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
    if (!r) return r;
    cur = std::move(*r);
    b = e + 1;
  }
  return cur;
}

Result<Value> f_tojson(Interpreter&, const Value& v, const CallArgs& a) {
  const Value* indent = a.get(1, "indent");
  const Value* seps = a.get(2, "separators");
  int ind = -1;
  if (indent && !indent->is_none()) {
    if (!indent->is_int()) return type_error("indent must be an integer");
    ind = static_cast<int>(std::max<int64_t>(0, indent->as_int()));
  }
  std::string item_sep, key_sep;
  if (seps && !seps->is_none()) {
    if (!seps->is_list() || seps->as_list().size() != 2) return Status::error("ValueError: separators must be a pair");
    item_sep = seps->as_list()[0].str();
    key_sep = seps->as_list()[1].str();
  }
  const bool custom = seps && !seps->is_none();
  auto r = python_json_dumps(v, arg_true(a, 0, "ensure_ascii"), ind, arg_true(a, 3, "sort_keys"), custom ? &item_sep : nullptr,
                             custom ? &key_sep : nullptr);
  if (!r) return r.status();
  return Value(std::move(*r));
}

Result<Value> f_trim(Interpreter&, const Value& v, const CallArgs& a) {
  const Value* c = a.get(0, "chars");
  const std::string chars = c && !c->is_none() ? c->str() : std::string();
  return Value(py_strip(v.str(), c && !c->is_none() ? &chars : nullptr, true, true));
}

Result<Value> f_length(Interpreter&, const Value& v, const CallArgs&) {
  auto n = length_of(v);
  if (!n) return n.status();
  return Value(*n);
}

Result<Value> f_list(Interpreter&, const Value& v, const CallArgs&) {
  auto l = iterate(v);
  if (!l) return l.status();
  return Value(std::move(*l));
}

Result<Value> f_items(Interpreter&, const Value& v, const CallArgs&) {
  if (v.is_undefined()) return Value(ValueList{}, true);
  if (!v.is_dict() || v.is_namespace()) return type_error("Can only get item pairs from a mapping.");
  ValueList l;
  for (const auto& [k, x] : v.as_dict()) l.push_back(Value::tuple({Value(k), x}));
  return Value(std::move(l), true);
}

Result<Value> f_string(Interpreter&, const Value& v, const CallArgs&) { return Value(v.str()); }
Result<Value> f_safe(Interpreter&, const Value& v, const CallArgs&) { return Value::markup(v.str()); }
Result<Value> f_escape(Interpreter&, const Value& v, const CallArgs&) {
  return Value::markup(v.is_markup() ? v.as_string() : html_escape(v.str()));
}
Result<Value> f_upper(Interpreter&, const Value& v, const CallArgs&) { return Value(py_upper(v.str())); }
Result<Value> f_lower(Interpreter&, const Value& v, const CallArgs&) { return Value(py_lower(v.str())); }
Result<Value> f_title(Interpreter&, const Value& v, const CallArgs&) { return Value(py_title(v.str())); }
Result<Value> f_capitalize(Interpreter&, const Value& v, const CallArgs&) { return Value(py_capitalize(v.str())); }

Result<Value> f_replace(Interpreter&, const Value& v, const CallArgs& a) {
  const Value* from = a.get(0, "old");
  const Value* to = a.get(1, "new");
  const Value* count = a.get(2, "count");
  if (!from || !to) return type_error("replace() missing required arguments");
  const int64_t n = count && count->is_int() ? count->as_int() : -1;
  return Value(py_replace(v.str(), from->str(), to->str(), n));
}

Result<Value> f_join(Interpreter&, const Value& v, const CallArgs& a) {
  const Value* sep = a.get(0, "d");
  const Value* attr = a.get(1, "attribute");
  auto items = iterate(v);
  if (!items) return items.status();
  std::string r;
  for (size_t i = 0; i < items->size(); ++i) {
    Value x = (*items)[i];
    if (attr && !attr->is_none()) {
      auto y = attr_path(x, attr->str());
      if (!y) return y;
      x = std::move(*y);
    }
    if (i) r += sep ? sep->str() : "";
    r += x.str();
  }
  return Value(std::move(r));
}

Result<Value> f_indent(Interpreter&, const Value& v, const CallArgs& a) {
  const Value* w = a.get(0, "width");
  std::string ind = w ? (w->is_string() ? w->as_string() : std::string(static_cast<size_t>(std::max<int64_t>(0, w->as_int())), ' ')) : "    ";
  const bool first = arg_true(a, 1, "first"), blank = arg_true(a, 2, "blank");
  auto lines = py_splitlines(v.str() + "\n");
  std::string r;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) r += "\n";
    const bool pad = i > 0 && (blank || !lines[i].empty());
    r += (pad ? ind : "") + lines[i];
  }
  if (first) r = ind + r;
  return Value(std::move(r));
}

Result<Value> f_int(Interpreter&, const Value& v, const CallArgs& a) {
  const Value* def = a.get(0, "default");
  const Value d = def ? *def : Value(0);
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) return std::isfinite(v.as_number()) ? Value(static_cast<int64_t>(v.as_number())) : d;
  if (!v.is_string()) return d;
  const std::string s = py_strip(v.as_string(), nullptr, true, true);
  char* end = nullptr;
  const long long i = std::strtoll(s.c_str(), &end, 10);
  if (!s.empty() && end && *end == 0) return Value(static_cast<int64_t>(i));
  const double f = std::strtod(s.c_str(), &end);
  if (!s.empty() && end && *end == 0 && std::isfinite(f)) return Value(static_cast<int64_t>(f));
  return d;
}

Result<Value> f_float(Interpreter&, const Value& v, const CallArgs& a) {
  const Value* def = a.get(0, "default");
  const Value d = def ? *def : Value(0.0);
  if (v.is_number()) return Value(v.as_number());
  if (!v.is_string()) return d;
  const std::string s = py_strip(v.as_string(), nullptr, true, true);
  char* end = nullptr;
  const double f = std::strtod(s.c_str(), &end);
  return !s.empty() && end && *end == 0 ? Value(f) : d;
}

Result<Value> f_default(Interpreter&, const Value& v, const CallArgs& a) {
  const Value* def = a.get(0, "default_value");
  if (v.is_undefined() || (arg_true(a, 1, "boolean") && !v.truthy())) return def ? *def : Value("");
  return v;
}

Result<Value> f_first(Interpreter&, const Value& v, const CallArgs&) {
  auto l = iterate(v);
  if (!l) return l.status();
  if (l->empty()) return Value::undefined("No first item, sequence was empty.");
  return l->front();
}

Result<Value> f_last(Interpreter&, const Value& v, const CallArgs&) {
  if (v.is_iterator()) return type_error("'generator' object is not reversible");
  auto l = iterate(v);
  if (!l) return l.status();
  if (l->empty()) return Value::undefined("No last item, sequence was empty.");
  return l->back();
}

Result<Value> f_reverse(Interpreter&, const Value& v, const CallArgs&) {
  if (v.is_string()) {
    auto cps = utf8_decode(v.as_string());
    std::reverse(cps.begin(), cps.end());
    return Value(utf8_encode(cps));
  }
  auto l = iterate(v);
  if (!l) return l.status();
  std::reverse(l->begin(), l->end());
  return Value(std::move(*l), true);
}

Result<Value> f_abs(Interpreter&, const Value& v, const CallArgs&) {
  if (!v.is_number()) return type_error("bad operand type for abs(): '" + v.type_name() + "'");
  return v.is_float() ? Value(std::fabs(v.as_number())) : Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
}

Result<Value> f_wordcount(Interpreter&, const Value& v, const CallArgs&) {
  return Value(static_cast<int64_t>(py_split(v.str(), nullptr, -1).size()));
}

// map(attribute=..., default=...) or map('filter', args...)
Result<Value> f_map(Interpreter& in, const Value& v, const CallArgs& a) {
  if (!v.truthy()) return Value(ValueList{}, true);  // Jinja2: `if value:` before iterating
  auto items = iterate(v);
  if (!items) return items.status();
  const Value* attr = a.get(99, "attribute");
  ValueList out;
  for (const auto& x : *items) {
    if (attr) {
      auto y = attr_path(x, attr->str());
      if (!y) return y;
      const Value* def = a.get(99, "default");
      out.push_back(y->is_undefined() && def ? *def : *y);
      continue;
    }
    if (a.pos.empty() || !a.pos[0].is_string()) return type_error("map requires a filter name or attribute=");
    CallArgs rest;
    rest.pos.assign(a.pos.begin() + 1, a.pos.end());
    rest.kw = a.kw;
    auto y = in.call_filter(a.pos[0].as_string(), x, rest, nullptr);
    if (!y) return y;
    out.push_back(std::move(*y));
  }
  return Value(std::move(out), true);
}

// select/reject(test, args...), selectattr/rejectattr(attr, test, args...)
Result<Value> select_impl(Interpreter& in, const Value& v, const CallArgs& a, bool by_attr, bool keep) {
  if (!v.truthy()) return Value(ValueList{}, true);  // Jinja2: `if value:` before iterating
  auto items = iterate(v);
  if (!items) return items.status();
  const size_t t = by_attr ? 1 : 0;
  if (by_attr && (a.pos.empty() || !a.pos[0].is_string())) return type_error("selectattr needs an attribute name");
  ValueList out;
  for (const auto& x : *items) {
    Value subj = x;
    if (by_attr) {
      auto y = attr_path(x, a.pos[0].as_string());
      if (!y) return y;
      subj = std::move(*y);
    }
    bool ok;
    if (a.pos.size() <= t) {
      ok = subj.truthy();
    } else {
      CallArgs rest;
      rest.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(t) + 1, a.pos.end());
      auto r = in.call_test(a.pos[t].str(), subj, rest);
      if (!r) return r.status();
      ok = *r;
    }
    if (ok == keep) out.push_back(x);
  }
  return Value(std::move(out), true);
}

Result<Value> f_select(Interpreter& in, const Value& v, const CallArgs& a) { return select_impl(in, v, a, false, true); }
Result<Value> f_reject(Interpreter& in, const Value& v, const CallArgs& a) { return select_impl(in, v, a, false, false); }
Result<Value> f_selectattr(Interpreter& in, const Value& v, const CallArgs& a) { return select_impl(in, v, a, true, true); }
Result<Value> f_rejectattr(Interpreter& in, const Value& v, const CallArgs& a) { return select_impl(in, v, a, true, false); }

Result<Value> f_unique(Interpreter&, const Value& v, const CallArgs& a) {
  auto items = iterate(v);
  if (!items) return items.status();
  const bool cs = arg_true(a, 0, "case_sensitive");
  const Value* attr = a.get(1, "attribute");
  ValueList out, keys;
  for (const auto& x : *items) {
    Value k = x;
    if (attr && !attr->is_none()) {
      auto y = attr_path(x, attr->str());
      if (!y) return y;
      k = *y;
    }
    if (!cs && k.is_string()) k = Value(py_lower(k.as_string()));
    bool seen = false;
    for (const auto& s : keys) seen = seen || s.equals(k);
    if (seen) continue;
    keys.push_back(k);
    out.push_back(x);
  }
  return Value(std::move(out), true);
}

Result<Value> f_sum(Interpreter&, const Value& v, const CallArgs& a) {
  auto items = iterate(v);
  if (!items) return items.status();
  const Value* attr = a.get(0, "attribute");
  const Value* start = a.get(1, "start");
  Value acc = start ? *start : Value(0);
  for (const auto& x : *items) {
    Value y = x;
    if (attr && !attr->is_none()) {
      auto r = attr_path(x, attr->str());
      if (!r) return r;
      y = *r;
    }
    auto s = binary_op("+", acc, y);
    if (!s) return s;
    acc = std::move(*s);
  }
  return acc;
}

Result<Value> f_round(Interpreter&, const Value& v, const CallArgs& a) {
  if (!v.is_number()) return type_error("round() needs a number");
  const Value* p = a.get(0, "precision");
  const Value* m = a.get(1, "method");
  const double scale = std::pow(10.0, p ? p->as_number() : 0.0);
  const std::string method = m ? m->str() : "common";
  const double x = v.as_number() * scale;
  const double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::round(x);
  return Value(r / scale);
}

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> t = {
      {"tojson", f_tojson},       {"trim", f_trim},         {"length", f_length},     {"count", f_length},
      {"list", f_list},           {"items", f_items},       {"string", f_string},     {"safe", f_safe},         {"escape", f_escape},     {"e", f_escape},
      {"upper", f_upper},         {"lower", f_lower},       {"title", f_title},       {"capitalize", f_capitalize},
      {"replace", f_replace},     {"join", f_join},         {"indent", f_indent},     {"int", f_int},
      {"float", f_float},         {"default", f_default},   {"d", f_default},         {"first", f_first},
      {"last", f_last},           {"reverse", f_reverse},   {"abs", f_abs},           {"wordcount", f_wordcount},
      {"map", f_map},             {"select", f_select},     {"reject", f_reject},     {"selectattr", f_selectattr},
      {"rejectattr", f_rejectattr}, {"unique", f_unique},   {"sum", f_sum},           {"round", f_round},
  };
  return t;
}

}  // namespace

Result<Value> Interpreter::call_filter(const std::string& name, const Value& subject, const CallArgs& args, const ScopePtr&) {
  auto it = filters().find(name);
  if (it == filters().end()) return Status::error("TemplateAssertionError: No filter named '" + name + "'.");
  return it->second(*this, subject, args);
}

}  // namespace shardlm::jinja
