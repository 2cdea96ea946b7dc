// The Jinja interpreter (module-private): runs a parsed Body against scopes of
// variables. Expressions in eval.cpp, statements in exec.cpp, filters in filters.cpp,
// tests in tests.cpp, attributes/items/methods in access.cpp, globals in globals.cpp.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>

#include "jinja/ast.h"

namespace shardlm::jinja {

struct Scope {
  std::shared_ptr<Scope> parent;
  std::unordered_map<std::string, Value> vars;
  const Value* find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent.get()) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
  }
};
using ScopePtr = std::shared_ptr<Scope>;

Status undefined_error(const Value& u);
Status type_error(const std::string& msg);

class Interpreter {
 public:
  Status run(const Body& body, ScopePtr globals, std::string& out);

  Result<Value> eval(const Expr& e, const ScopePtr& s);
  Status exec(const Body& body, const ScopePtr& s, std::string& out);

  Result<Value> call_filter(const std::string& name, const Value& subject, const CallArgs& args, const ScopePtr& s);
  Result<bool> call_test(const std::string& name, const Value& subject, const CallArgs& args);
  static Result<Value> call(const Value& fn, const CallArgs& args);

 private:
  enum class Flow { normal, break_, continue_ };
  Flow flow_ = Flow::normal;
  int depth_ = 0;  // macro call depth (a recursion limit)

  Result<Value> eval_binary(const Expr& e, const ScopePtr& s);
  Result<Value> eval_call(const Expr& e, const ScopePtr& s);
  Result<Value> eval_filter(const Expr& e, const ScopePtr& s, const Value* subject);
  Result<CallArgs> eval_args(const Expr& e, size_t first, const ScopePtr& s);
  Status exec_node(const Node& n, const ScopePtr& s, std::string& out);
  Status exec_if(const Node& n, const ScopePtr& s, std::string& out);
  Status exec_for(const Node& n, const ScopePtr& s, std::string& out);
  Status exec_set(const Node& n, const ScopePtr& s, std::string& out);
  Value make_macro(const Node& n, const ScopePtr& s);
};

// access.cpp: Jinja2's getattr (attribute first, then item) and getitem (item first).
Result<Value> get_attr(const Value& obj, const std::string& name);
Result<Value> get_item(const Value& obj, const Value& key);
Result<Value> get_slice(const Value& obj, const Value* start, const Value* stop, const Value* step);
// The items a for loop or a filter iterates: list items, dict keys, string characters.
Result<ValueList> iterate(const Value& v);
// len(); error for values without one (ints, generators).
Result<int64_t> length_of(const Value& v);
// Binary operators other than and/or (eval.cpp).
Result<Value> binary_op(const std::string& op, const Value& a, const Value& b);
// The built-in globals (globals.cpp).
const Value* builtin_global(const std::string& name);

}  // namespace shardlm::jinja
