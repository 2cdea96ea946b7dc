// Jinja values: the Python objects a chat template sees (None, bool, int, float, str,
// list, dict), plus Jinja's Undefined, callables (macros, builtins, bound methods) and
// namespace() objects.
//
// Lists and dicts are shared (copying a Value copies a pointer), as Python's are; only a
// namespace is ever mutated (`{% set ns.x = ... %}`). Dicts keep insertion order and
// have string keys (JSON's). A list may be an iterator (`is_iterator`): what
// map/select/selectattr/reject/unique return in Jinja2 is a generator, which has no
// length, cannot be indexed or serialized and is always true.
//
// Strings are UTF-8; lengths, indexing and slicing count code points, as Python does.
// Thread safety: a Value is not synchronized; one render uses its values alone.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "shardlm/core/status.h"

namespace shardlm::jinja {

class Value;
using ValueList = std::vector<Value>;
using ValueDict = std::vector<std::pair<std::string, Value>>;  // insertion order

// Arguments of a call: positional, then keyword (in call order).
struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // The keyword `name`, or else positional `index`, or nullptr.
  const Value* get(size_t index, std::string_view name) const;
};
using Function = std::function<Result<Value>(const CallArgs&)>;

enum class Kind { undefined, none, boolean, integer, floating, string, list, dict, function };

class Value {
 public:
  Value() : kind_(Kind::undefined) {}  // Undefined
  static Value undefined(std::string message) {
    Value v;
    v.str_ = std::make_shared<std::string>(std::move(message));
    return v;
  }
  static Value none() { Value v; v.kind_ = Kind::none; return v; }
  Value(bool b) : kind_(Kind::boolean), i_(b) {}                     // NOLINT
  Value(int v) : kind_(Kind::integer), i_(v) {}                      // NOLINT
  Value(int64_t v) : kind_(Kind::integer), i_(v) {}                  // NOLINT
  Value(double v) : kind_(Kind::floating), f_(v) {}                  // NOLINT
  Value(std::string s) : kind_(Kind::string), str_(std::make_shared<std::string>(std::move(s))) {}  // NOLINT
  Value(const char* s) : Value(std::string(s)) {}                    // NOLINT
  Value(ValueList l, bool iterator = false);                         // NOLINT
  Value(ValueDict d, bool is_namespace = false);                     // NOLINT
  static Value function(std::string name, Function fn);
  // A Python tuple: a list that prints as (a, b) (tuple literals, dict items).
  static Value tuple(ValueList l) { Value v(std::move(l)); v.tuple_ = true; return v; }
  // A markupsafe.Markup string (what the `safe` and `escape` filters return): `+` with a
  // plain str HTML-escapes the plain operand, as Markup.__add__ does even without
  // autoescaping.
  static Value markup(std::string s) { Value v(std::move(s)); v.flag_ = true; return v; }
  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::undefined; }
  bool is_none() const { return kind_ == Kind::none; }
  bool is_bool() const { return kind_ == Kind::boolean; }
  bool is_int() const { return kind_ == Kind::integer; }
  bool is_float() const { return kind_ == Kind::floating; }
  bool is_number() const { return kind_ == Kind::integer || kind_ == Kind::floating || kind_ == Kind::boolean; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_list() const { return kind_ == Kind::list; }
  bool is_dict() const { return kind_ == Kind::dict; }
  bool is_function() const { return kind_ == Kind::function; }
  bool is_iterator() const { return kind_ == Kind::list && flag_; }
  bool is_namespace() const { return kind_ == Kind::dict && flag_; }
  bool is_markup() const { return kind_ == Kind::string && flag_; }

  bool as_bool() const { return i_ != 0; }
  int64_t as_int() const { return i_; }
  double as_number() const { return kind_ == Kind::floating ? f_ : static_cast<double>(i_); }
  const std::string& as_string() const { return *str_; }
  const ValueList& as_list() const { return *list_; }
  const ValueDict& as_dict() const { return *dict_; }
  ValueDict& mutable_dict() const { return *dict_; }  // namespaces only
  const Function& as_function() const { return *fn_; }
  const std::string& function_name() const { return *str_; }
  // Undefined's message: "'x' is undefined", "'dict object' has no attribute 'y'".
  std::string undefined_message() const { return str_ ? *str_ : "value is undefined"; }

  // Dict lookup; nullptr when absent (or not a dict).
  const Value* find(std::string_view key) const;

  bool truthy() const;               // Python bool()
  std::string str() const;           // Python str(); Undefined -> ""
  std::string repr() const;          // Python repr()
  std::string type_name() const;     // "dict object", "str object", "NoneType" ...
  // Python ==: numbers across int/float/bool, deep for lists and dicts.
  bool equals(const Value& o) const;
  // The JSON value (tojson, the API). Error for Undefined, functions and iterators.
  Result<nlohmann::ordered_json> to_json() const;

 private:
  Kind kind_;
  bool flag_ = false;  // list: iterator; dict: namespace; string: Markup
  bool tuple_ = false;  // list: a tuple
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<std::string> str_;  // string; undefined message; function name
  std::shared_ptr<ValueList> list_;
  std::shared_ptr<ValueDict> dict_;
  std::shared_ptr<Function> fn_;
};

// Python's float repr: shortest round trip, "1.0", "1e+16", "1.5e-05", "inf", "nan".
std::string python_float_repr(double d);
// Python's json.dumps(v, ensure_ascii=, indent=, separators=default, sort_keys=).
// indent < 0: None (", " and ": " separators, one line); indent >= 0: newlines and
// that many spaces per level ("," and ": "). Error for values JSON cannot hold
// (Jinja2's TypeError message).
Result<std::string> python_json_dumps(const Value& v, bool ensure_ascii, int indent, bool sort_keys,
                                      const std::string* item_sep = nullptr, const std::string* key_sep = nullptr);

}  // namespace shardlm::jinja
