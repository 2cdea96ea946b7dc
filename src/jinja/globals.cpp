// Jinja interpreter: the global functions (Jinja2's range, namespace, dict;
// transformers' raise_exception and strftime_now).
#include <ctime>
#include <map>

#include "jinja/interp.h"

namespace shardlm::jinja {

namespace {

Result<Value> range_fn(const CallArgs& a) {
  int64_t v[3] = {0, 0, 1};
  for (const auto& x : a.pos)
    if (!x.is_int() && !x.is_bool()) return type_error("'" + x.type_name() + "' object cannot be interpreted as an integer");
  if (a.pos.size() == 1) v[1] = a.pos[0].as_int();
  else if (a.pos.size() == 2 || a.pos.size() == 3) {
    v[0] = a.pos[0].as_int();
    v[1] = a.pos[1].as_int();
    if (a.pos.size() == 3) v[2] = a.pos[2].as_int();
  } else {
    return type_error("range expected at most 3 arguments, got " + std::to_string(a.pos.size()));
  }
  if (v[2] == 0) return Status::error("ValueError: range() arg 3 must not be zero");
  ValueList l;
  for (int64_t i = v[0]; v[2] > 0 ? i < v[1] : i > v[1]; i += v[2]) {
    if (l.size() >= 100000) return Status::error("OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    l.emplace_back(i);
  }
  return Value(std::move(l));
}

Result<Value> dict_from(const CallArgs& a, bool ns) {
  ValueDict d;
  auto put = [&](const std::string& k, const Value& v) {
    for (auto& kv : d)
      if (kv.first == k) {
        kv.second = v;
        return;
      }
    d.emplace_back(k, v);
  };
  for (const auto& p : a.pos) {
    if (!p.is_dict()) return type_error("dict() positional argument must be a mapping");
    for (const auto& [k, v] : p.as_dict()) put(k, v);
  }
  for (const auto& [k, v] : a.kw) put(k, v);
  return Value(std::move(d), ns);
}

Result<Value> strftime_now(const CallArgs& a) {
  const Value* f = a.get(0, "format");
  if (!f || !f->is_string()) return type_error("strftime_now() argument must be str");
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[256];
  const size_t n = std::strftime(buf, sizeof buf, f->as_string().c_str(), &tm);
  return Value(std::string(buf, n));
}

}  // namespace

const Value* builtin_global(const std::string& name) {
  static const std::map<std::string, Value> globals = {
      {"range", Value::function("range", range_fn)},
      {"namespace", Value::function("namespace", [](const CallArgs& a) { return dict_from(a, true); })},
      {"dict", Value::function("dict", [](const CallArgs& a) { return dict_from(a, false); })},
      {"raise_exception", Value::function("raise_exception", [](const CallArgs& a) -> Result<Value> {
         const Value* m = a.get(0, "message");
         return Status::error("TemplateError: " + (m ? m->str() : std::string()));
       })},
      {"strftime_now", Value::function("strftime_now", strftime_now)},
  };
  auto it = globals.find(name);
  return it == globals.end() ? nullptr : &it->second;
}

}  // namespace shardlm::jinja
