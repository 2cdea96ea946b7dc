// Jinja values: construction, Python truth/str/repr/==, JSON in and out.
#include "shardlm/jinja/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "jinja/text-util.h"

namespace shardlm::jinja {

const Value* CallArgs::get(size_t index, std::string_view name) const {
  for (const auto& [k, v] : kw)
    if (k == name) return &v;
  return index < pos.size() ? &pos[index] : nullptr;
}

Value::Value(ValueList l, bool iterator) : kind_(Kind::list), flag_(iterator), list_(std::make_shared<ValueList>(std::move(l))) {}
Value::Value(ValueDict d, bool is_namespace)
    : kind_(Kind::dict), flag_(is_namespace), dict_(std::make_shared<ValueDict>(std::move(d))) {}

Value Value::function(std::string name, Function fn) {
  Value v;
  v.kind_ = Kind::function;
  v.str_ = std::make_shared<std::string>(std::move(name));
  v.fn_ = std::make_shared<Function>(std::move(fn));
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return none();
    case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: return Value(static_cast<int64_t>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      ValueList l;
      for (const auto& e : j) l.push_back(from_json(e));
      return Value(std::move(l));
    }
    case nlohmann::ordered_json::value_t::object: {
      ValueDict d;
      for (const auto& [k, e] : j.items()) d.emplace_back(k, from_json(e));
      return Value(std::move(d));
    }
    default: return none();
  }
}

const Value* Value::find(std::string_view key) const {
  if (kind_ != Kind::dict) return nullptr;
  for (const auto& [k, v] : *dict_)
    if (k == key) return &v;
  return nullptr;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::undefined:
    case Kind::none: return false;
    case Kind::boolean:
    case Kind::integer: return i_ != 0;
    case Kind::floating: return f_ != 0;
    case Kind::string: return !str_->empty();
    case Kind::list: return flag_ || !list_->empty();
    case Kind::dict: return flag_ || !dict_->empty();
    case Kind::function: return true;
  }
  return false;
}

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);  // d[.ddd]e±XX
  const size_t e = sci.find('e');
  const int exp = std::atoi(sci.c_str() + e + 1);
  std::string mant = sci.substr(0, e);
  const bool neg = mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  std::string out = neg ? "-" : "";
  if (exp < -4 || exp >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return out + eb;
  }
  if (exp < 0) return out + "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  const size_t ip = static_cast<size_t>(exp) + 1;
  if (digits.size() <= ip) return out + digits + std::string(ip - digits.size(), '0') + ".0";
  return out + digits.substr(0, ip) + "." + digits.substr(ip);
}

std::string Value::str() const {
  switch (kind_) {
    case Kind::undefined: return "";
    case Kind::string: return *str_;
    default: return repr();
  }
}

std::string Value::repr() const {
  switch (kind_) {
    case Kind::undefined: return "";
    case Kind::none: return "None";
    case Kind::boolean: return i_ ? "True" : "False";
    case Kind::integer: return std::to_string(i_);
    case Kind::floating: return python_float_repr(f_);
    case Kind::string: return py_str_repr(*str_);
    case Kind::list: {
      if (flag_) return "<generator object>";
      std::string s = tuple_ ? "(" : "[";
      for (size_t i = 0; i < list_->size(); ++i) s += (i ? ", " : "") + (*list_)[i].repr();
      if (tuple_ && list_->size() == 1) s += ",";
      return s + (tuple_ ? ")" : "]");
    }
    case Kind::dict: {
      std::string s = flag_ ? "<Namespace {" : "{";
      for (size_t i = 0; i < dict_->size(); ++i)
        s += (i ? ", " : "") + py_str_repr((*dict_)[i].first) + ": " + (*dict_)[i].second.repr();
      return s + (flag_ ? "}>" : "}");
    }
    case Kind::function: return "<function " + *str_ + ">";
  }
  return "";
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::undefined: return "Undefined";
    case Kind::none: return "NoneType";
    case Kind::boolean: return "bool object";
    case Kind::integer: return "int object";
    case Kind::floating: return "float object";
    case Kind::string: return "str object";
    case Kind::list: return flag_ ? "generator object" : "list object";
    case Kind::dict: return flag_ ? "Namespace object" : "dict object";
    case Kind::function: return "function object";
  }
  return "object";
}

bool Value::equals(const Value& o) const {
  if (is_number() && o.is_number()) {
    if (kind_ != Kind::floating && o.kind_ != Kind::floating) return i_ == o.i_;
    return as_number() == o.as_number();
  }
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::undefined:
    case Kind::none: return true;
    case Kind::string: return *str_ == *o.str_;
    case Kind::list: {
      if (list_ == o.list_) return true;
      if (flag_ || o.flag_ || list_->size() != o.list_->size()) return false;
      for (size_t i = 0; i < list_->size(); ++i)
        if (!(*list_)[i].equals((*o.list_)[i])) return false;
      return true;
    }
    case Kind::dict: {
      if (dict_ == o.dict_) return true;
      if (flag_ || o.flag_ || dict_->size() != o.dict_->size()) return false;
      for (const auto& [k, v] : *dict_) {
        const Value* ov = o.find(k);
        if (!ov || !v.equals(*ov)) return false;
      }
      return true;
    }
    case Kind::function: return fn_ == o.fn_;
    default: return false;
  }
}

Result<nlohmann::ordered_json> Value::to_json() const {
  switch (kind_) {
    case Kind::none: return nlohmann::ordered_json(nullptr);
    case Kind::boolean: return nlohmann::ordered_json(i_ != 0);
    case Kind::integer: return nlohmann::ordered_json(i_);
    case Kind::floating: return nlohmann::ordered_json(f_);
    case Kind::string: return nlohmann::ordered_json(*str_);
    case Kind::list: {
      if (flag_) break;
      nlohmann::ordered_json a = nlohmann::ordered_json::array();
      for (const auto& e : *list_) {
        auto j = e.to_json();
        if (!j) return j.status();
        a.push_back(std::move(*j));
      }
      return a;
    }
    case Kind::dict: {
      if (flag_) break;
      nlohmann::ordered_json o = nlohmann::ordered_json::object();
      for (const auto& [k, e] : *dict_) {
        auto j = e.to_json();
        if (!j) return j.status();
        o[k] = std::move(*j);
      }
      return o;
    }
    default: break;
  }
  const std::string t = kind_ == Kind::undefined ? "Undefined" : flag_ ? (kind_ == Kind::list ? "generator" : "Namespace") : "function";
  return Status::error("TypeError: Object of type " + t + " is not JSON serializable");
}

}  // namespace shardlm::jinja
