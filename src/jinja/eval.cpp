// Jinja interpreter: expressions (Python semantics for operators).
#include <cmath>

#include "jinja/interp.h"
#include "jinja/text-util.h"

namespace shardlm::jinja {

Status undefined_error(const Value& u) { return Status::error("UndefinedError: " + u.undefined_message()); }
Status type_error(const std::string& msg) { return Status::error("TypeError: " + msg); }

namespace {

std::string py_type(const Value& v) {
  switch (v.kind()) {
    case Kind::none: return "NoneType";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::floating: return "float";
    case Kind::string: return "str";
    case Kind::list: return v.is_iterator() ? "generator" : "list";
    case Kind::dict: return v.is_namespace() ? "Namespace" : "dict";
    default: return "function";
  }
}

Status unsupported(const std::string& op, const Value& a, const Value& b) {
  if (a.is_string() && op == "+") return type_error("can only concatenate str (not \"" + py_type(b) + "\") to str");
  if (a.is_list() && op == "+") return type_error("can only concatenate list (not \"" + py_type(b) + "\") to list");
  return type_error("unsupported operand type(s) for " + op + ": '" + py_type(a) + "' and '" + py_type(b) + "'");
}

Result<Value> repeat(const Value& seq, int64_t n) {
  if (seq.is_string()) {
    std::string r;
    for (int64_t i = 0; i < n; ++i) r += seq.as_string();
    return Value(std::move(r));
  }
  ValueList l;
  for (int64_t i = 0; i < n; ++i) l.insert(l.end(), seq.as_list().begin(), seq.as_list().end());
  return Value(std::move(l));
}

Result<Value> arith(const std::string& op, const Value& a, const Value& b) {
  const bool ints = !a.is_float() && !b.is_float();
  const double x = a.as_number(), y = b.as_number();
  if (op == "+") return ints ? Value(a.as_int() + b.as_int()) : Value(x + y);
  if (op == "-") return ints ? Value(a.as_int() - b.as_int()) : Value(x - y);
  if (op == "*") return ints ? Value(a.as_int() * b.as_int()) : Value(x * y);
  if (y == 0 && op != "**") return Status::error(std::string("ZeroDivisionError: ") + (ints ? "division by zero" : "float division by zero"));
  if (op == "/") return Value(x / y);
  if (op == "//") {
    if (!ints) return Value(std::floor(x / y));
    int64_t q = a.as_int() / b.as_int();
    if ((a.as_int() % b.as_int() != 0) && ((a.as_int() < 0) != (b.as_int() < 0))) --q;
    return Value(q);
  }
  if (op == "%") {
    if (!ints) {
      double m = std::fmod(x, y);
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      return Value(m);
    }
    int64_t m = a.as_int() % b.as_int();
    if (m != 0 && ((m < 0) != (b.as_int() < 0))) m += b.as_int();
    return Value(m);
  }
  if (ints && b.as_int() >= 0) {
    int64_t r = 1;
    for (int64_t i = 0; i < b.as_int(); ++i) r *= a.as_int();
    return Value(r);
  }
  return Value(std::pow(x, y));
}

// <, >, <=, >= between numbers, strings or lists.
Result<int> compare(const std::string& op, const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.as_number(), y = b.as_number();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) return a.as_string().compare(b.as_string()) < 0 ? -1 : a.as_string() == b.as_string() ? 0 : 1;
  if (a.is_list() && b.is_list() && !a.is_iterator() && !b.is_iterator()) {
    const auto &l = a.as_list(), &r = b.as_list();
    for (size_t i = 0; i < l.size() && i < r.size(); ++i) {
      if (l[i].equals(r[i])) continue;
      return compare(op, l[i], r[i]);
    }
    return l.size() < r.size() ? -1 : l.size() > r.size() ? 1 : 0;
  }
  return type_error("'" + op + "' not supported between instances of '" + py_type(a) + "' and '" + py_type(b) + "'");
}

Result<bool> contains(const Value& item, const Value& seq) {
  if (seq.is_string()) {
    if (!item.is_string()) return type_error("'in <string>' requires string as left operand, not " + py_type(item));
    return seq.as_string().find(item.as_string()) != std::string::npos;
  }
  if (seq.is_dict()) {
    if (!item.is_string()) return false;
    return seq.find(item.as_string()) != nullptr;
  }
  if (seq.is_list()) {
    for (const auto& v : seq.as_list())
      if (v.equals(item)) return true;
    return false;
  }
  if (seq.is_undefined()) return false;
  return type_error("argument of type '" + py_type(seq) + "' is not iterable");
}

}  // namespace

Result<Value> binary_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return Value(a.equals(b));
  if (op == "!=") return Value(!a.equals(b));
  if (op == "~") return Value(a.str() + b.str());
  if (op == "in" || op == "not in") {
    auto r = contains(a, b);
    if (!r) return r.status();
    return Value(op == "in" ? *r : !*r);
  }
  if (a.is_undefined()) return undefined_error(a);
  if (b.is_undefined()) return undefined_error(b);
  if (op == "<" || op == ">" || op == "<=" || op == ">=") {
    auto c = compare(op, a, b);
    if (!c) return c.status();
    const int v = *c;
    return Value(op == "<" ? v < 0 : op == ">" ? v > 0 : op == "<=" ? v <= 0 : v >= 0);
  }
  if (a.is_number() && b.is_number()) return arith(op, a, b);
  if (op == "+" && a.is_string() && b.is_string()) {
    if (!a.is_markup() && !b.is_markup()) return Value(a.as_string() + b.as_string());
    return Value::markup((a.is_markup() ? a.as_string() : html_escape(a.as_string())) +
                         (b.is_markup() ? b.as_string() : html_escape(b.as_string())));
  }
  if (op == "+" && a.is_list() && b.is_list() && !a.is_iterator() && !b.is_iterator()) {
    ValueList l = a.as_list();
    l.insert(l.end(), b.as_list().begin(), b.as_list().end());
    return Value(std::move(l));
  }
  if (op == "*" && (a.is_string() || (a.is_list() && !a.is_iterator())) && (b.is_int() || b.is_bool())) return repeat(a, b.as_int());
  if (op == "*" && (b.is_string() || (b.is_list() && !b.is_iterator())) && (a.is_int() || a.is_bool())) return repeat(b, a.as_int());
  return unsupported(op, a, b);
}

Result<CallArgs> Interpreter::eval_args(const Expr& e, size_t first, const ScopePtr& s) {
  CallArgs a;
  for (size_t i = first; i < e.args.size(); ++i) {
    auto v = eval(*e.args[i], s);
    if (!v) return v.status();
    a.pos.push_back(std::move(*v));
  }
  for (const auto& [k, x] : e.kwargs) {
    auto v = eval(*x, s);
    if (!v) return v.status();
    a.kw.emplace_back(k, std::move(*v));
  }
  return a;
}

Result<Value> Interpreter::call(const Value& fn, const CallArgs& args) {
  if (fn.is_undefined()) return undefined_error(fn);
  if (!fn.is_function()) return type_error("'" + py_type(fn) + "' object is not callable");
  return fn.as_function()(args);
}

Result<Value> Interpreter::eval_call(const Expr& e, const ScopePtr& s) {
  auto fn = eval(*e.args[0], s);
  if (!fn) return fn;
  auto args = eval_args(e, 1, s);
  if (!args) return args.status();
  return call(*fn, *args);
}

Result<Value> Interpreter::eval_filter(const Expr& e, const ScopePtr& s, const Value* subject) {
  Value subj;
  if (e.args[0]) {
    auto v = eval(*e.args[0], s);
    if (!v) return v;
    subj = std::move(*v);
  } else if (subject) {
    subj = *subject;
  }
  auto args = eval_args(e, 1, s);
  if (!args) return args.status();
  return call_filter(e.name, subj, *args, s);
}

Result<Value> Interpreter::eval_binary(const Expr& e, const ScopePtr& s) {
  auto a = eval(*e.args[0], s);
  if (!a) return a;
  if (e.name == "and") return a->truthy() ? eval(*e.args[1], s) : a;
  if (e.name == "or") return a->truthy() ? a : eval(*e.args[1], s);
  auto b = eval(*e.args[1], s);
  if (!b) return b;
  return binary_op(e.name, *a, *b);
}

Result<Value> Interpreter::eval(const Expr& e, const ScopePtr& s) {
  switch (e.kind) {
    case ExprKind::literal: return e.value;
    case ExprKind::name: {
      if (const Value* v = s->find(e.name)) return *v;
      if (const Value* g = builtin_global(e.name)) return *g;
      return Value::undefined("'" + e.name + "' is undefined");
    }
    case ExprKind::list:
    case ExprKind::tuple: {
      auto a = eval_args(e, 0, s);
      if (!a) return a.status();
      return e.kind == ExprKind::tuple ? Value::tuple(std::move(a->pos)) : Value(std::move(a->pos));
    }
    case ExprKind::dict: {
      ValueDict d;
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        auto k = eval(*e.args[i], s);
        if (!k) return k;
        auto v = eval(*e.args[i + 1], s);
        if (!v) return v;
        std::string key = k->is_string() ? k->as_string() : k->str();
        bool replaced = false;
        for (auto& kv : d)
          if (kv.first == key) { kv.second = *v; replaced = true; }
        if (!replaced) d.emplace_back(std::move(key), std::move(*v));
      }
      return Value(std::move(d));
    }
    case ExprKind::attr: {
      auto o = eval(*e.args[0], s);
      if (!o) return o;
      return get_attr(*o, e.name);
    }
    case ExprKind::item: {
      auto o = eval(*e.args[0], s);
      if (!o) return o;
      auto k = eval(*e.args[1], s);
      if (!k) return k;
      return get_item(*o, *k);
    }
    case ExprKind::slice: {
      auto o = eval(*e.args[0], s);
      if (!o) return o;
      Value parts[3];
      for (int i = 0; i < 3; ++i) {
        if (!e.args[1 + i]) continue;
        auto v = eval(*e.args[1 + i], s);
        if (!v) return v;
        parts[i] = std::move(*v);
      }
      return get_slice(*o, e.args[1] ? &parts[0] : nullptr, e.args[2] ? &parts[1] : nullptr, e.args[3] ? &parts[2] : nullptr);
    }
    case ExprKind::call: return eval_call(e, s);
    case ExprKind::filter: return eval_filter(e, s, nullptr);
    case ExprKind::test: {
      auto v = eval(*e.args[0], s);
      if (!v) return v;
      auto args = eval_args(e, 1, s);
      if (!args) return args.status();
      auto r = call_test(e.name, *v, *args);
      if (!r) return r.status();
      return Value(*r != e.negated);
    }
    case ExprKind::unary: {
      auto v = eval(*e.args[0], s);
      if (!v) return v;
      if (e.name == "not") return Value(!v->truthy());
      if (v->is_undefined()) return undefined_error(*v);
      if (!v->is_number()) return type_error("bad operand type for unary " + e.name + ": '" + py_type(*v) + "'");
      if (e.name == "+") return v->is_float() ? *v : Value(v->as_int());
      return v->is_float() ? Value(-v->as_number()) : Value(-v->as_int());
    }
    case ExprKind::binary: return eval_binary(e, s);
    case ExprKind::cond: {
      auto c = eval(*e.args[0], s);
      if (!c) return c;
      if (c->truthy()) return eval(*e.args[1], s);
      if (e.args[2]) return eval(*e.args[2], s);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                              " evaluated to false and no else section was defined.");
    }
  }
  return Value();
}

}  // namespace shardlm::jinja
