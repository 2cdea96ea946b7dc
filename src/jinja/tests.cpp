// Jinja interpreter: tests (`x is NAME`), as Jinja2 defines them.
#include "jinja/interp.h"
#include "jinja/text-util.h"

namespace shardlm::jinja {

Result<bool> Interpreter::call_test(const std::string& name, const Value& v, const CallArgs& a) {
  const Value* arg = a.get(0, "");
  auto need_arg = [&]() -> Status {
    return arg ? Status() : type_error("test '" + name + "' needs an argument");
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "mapping") return v.is_dict() && !v.is_namespace();
  if (name == "iterable") return v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace()) || v.is_undefined();
  if (name == "sequence") return v.is_string() || (v.is_list() && !v.is_iterator()) || (v.is_dict() && !v.is_namespace()) || v.is_undefined();
  if (name == "callable") return v.is_function();
  if (name == "lower" || name == "upper") {
    const std::string s = v.str();
    return name == "lower" ? py_lower(s) == s : py_upper(s) == s;
  }
  if (name == "odd" || name == "even") {
    if (v.is_undefined()) return undefined_error(v);
    if (!v.is_int() && !v.is_bool()) return type_error("not all arguments converted during string formatting");
    return (v.as_int() % 2 != 0) == (name == "odd");
  }
  if (name == "divisibleby") {
    SHARDLM_TRY(need_arg());
    auto r = binary_op("%", v, *arg);
    if (!r) return r.status();
    return !r->truthy();
  }
  if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") {
    SHARDLM_TRY(need_arg());
    return v.equals(*arg);
  }
  if (name == "ne" || name == "!=") {
    SHARDLM_TRY(need_arg());
    return !v.equals(*arg);
  }
  static const std::pair<const char*, const char*> cmp[] = {{"lt", "<"}, {"<", "<"},   {"le", "<="}, {"<=", "<="},
                                                            {"gt", ">"}, {">", ">"},   {"ge", ">="}, {">=", ">="},
                                                            {"greaterthan", ">"}, {"lessthan", "<"}, {"in", "in"}};
  for (const auto& [n, op] : cmp)
    if (name == n) {
      SHARDLM_TRY(need_arg());
      auto r = binary_op(op, v, *arg);
      if (!r) return r.status();
      return r->truthy();
    }
  return Status::error("TemplateRuntimeError: No test named '" + name + "'.");
}

}  // namespace shardlm::jinja
