// Jinja parser: expressions, with Jinja2's precedence.
#include "jinja/parser.h"

namespace shardlm::jinja {

ExprPtr Parser::make(ExprKind k, std::string name) {
  auto e = std::make_unique<Expr>();
  e->kind = k;
  e->name = std::move(name);
  e->line = cur().line;
  return e;
}

ExprPtr Parser::binary(std::string op, ExprPtr a, ExprPtr b) {
  if (!a || !b) return nullptr;
  auto e = make(ExprKind::binary, std::move(op));
  e->args.push_back(std::move(a));
  e->args.push_back(std::move(b));
  return e;
}

ExprPtr Parser::parse_tuple_expr(bool with_cond) {
  ExprPtr first = parse_expression(with_cond);
  if (!first || !is_op(",")) return first;
  auto t = make(ExprKind::tuple);
  t->args.push_back(std::move(first));
  while (skip_op(",")) {
    if (cur().type == Tok::block_end || cur().type == Tok::var_end || is_op(")")) break;
    auto e = parse_expression(with_cond);
    if (!e) return nullptr;
    t->args.push_back(std::move(e));
  }
  return t;
}

ExprPtr Parser::parse_expression(bool with_cond) {
  ExprPtr e = parse_or();
  while (with_cond && e && skip_name("if")) {
    auto c = make(ExprKind::cond);
    c->args.push_back(parse_or());
    c->args.insert(c->args.begin() + 1, std::move(e));
    c->args.push_back(skip_name("else") ? parse_expression() : nullptr);
    if (!c->args[0] || (failed())) return nullptr;
    e = std::move(c);
  }
  return failed() ? nullptr : std::move(e);
}

ExprPtr Parser::parse_or() {
  ExprPtr e = parse_and();
  while (e && skip_name("or")) e = binary("or", std::move(e), parse_and());
  return e;
}

ExprPtr Parser::parse_and() {
  ExprPtr e = parse_not();
  while (e && skip_name("and")) e = binary("and", std::move(e), parse_not());
  return e;
}

ExprPtr Parser::parse_not() {
  if (skip_name("not")) {
    auto e = make(ExprKind::unary, "not");
    auto x = parse_not();
    if (!x) return nullptr;
    e->args.push_back(std::move(x));
    return e;
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  ExprPtr e = parse_math1();
  static const char* ops[] = {"==", "!=", "<", ">", "<=", ">="};
  while (e) {
    std::string op;
    for (const char* o : ops)
      if (is_op(o)) op = o;
    if (!op.empty()) {
      ++p_;
    } else if (skip_name("in")) {
      op = "in";
    } else if (is_name("not") && peek().type == Tok::name && peek().text == "in") {
      p_ += 2;
      op = "not in";
    } else {
      break;
    }
    e = binary(op, std::move(e), parse_math1());
  }
  return e;
}

ExprPtr Parser::parse_math1() {
  ExprPtr e = parse_concat();
  while (e && (is_op("+") || is_op("-"))) {
    std::string op = t_[p_++].text;
    e = binary(op, std::move(e), parse_concat());
  }
  return e;
}

ExprPtr Parser::parse_concat() {
  ExprPtr e = parse_math2();
  while (e && skip_op("~")) e = binary("~", std::move(e), parse_math2());
  return e;
}

ExprPtr Parser::parse_math2() {
  ExprPtr e = parse_pow();
  while (e && (is_op("*") || is_op("/") || is_op("//") || is_op("%"))) {
    std::string op = t_[p_++].text;
    e = binary(op, std::move(e), parse_pow());
  }
  return e;
}

ExprPtr Parser::parse_pow() {
  ExprPtr e = parse_unary();
  while (e && skip_op("**")) e = binary("**", std::move(e), parse_unary());
  return e;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  ExprPtr e;
  if (is_op("-") || is_op("+")) {
    e = make(ExprKind::unary, t_[p_++].text);
    auto x = parse_unary(false);
    if (!x) return nullptr;
    e->args.push_back(std::move(x));
  } else {
    e = parse_primary();
  }
  e = parse_postfix(std::move(e));
  if (with_filter) e = parse_filter_expr(std::move(e));
  return e;
}

ExprPtr Parser::parse_primary() {
  const Token& t = cur();
  if (t.type == Tok::name) {
    ++p_;
    auto e = make(ExprKind::literal);
    if (t.text == "true" || t.text == "True") e->value = Value(true);
    else if (t.text == "false" || t.text == "False") e->value = Value(false);
    else if (t.text == "none" || t.text == "None") e->value = Value::none();
    else e = make(ExprKind::name, t.text);
    return e;
  }
  if (t.type == Tok::string) {
    std::string s;
    while (cur().type == Tok::string) s += t_[p_++].text;  // adjacent literals concatenate
    auto e = make(ExprKind::literal);
    e->value = Value(std::move(s));
    return e;
  }
  if (t.type == Tok::integer || t.type == Tok::floating) {
    auto e = make(ExprKind::literal);
    e->value = t.type == Tok::integer ? Value(t.ival) : Value(t.fval);
    ++p_;
    return e;
  }
  if (skip_op("(")) {
    if (skip_op(")")) return make(ExprKind::tuple);
    auto e = parse_tuple_expr();
    if (!e || !expect_op(")")) return nullptr;
    return e;
  }
  if (skip_op("[")) {
    auto e = make(ExprKind::list);
    while (!failed() && !is_op("]")) {
      if (!e->args.empty() && !expect_op(",")) return nullptr;
      if (is_op("]")) break;
      auto x = parse_expression();
      if (!x) return nullptr;
      e->args.push_back(std::move(x));
    }
    if (!expect_op("]")) return nullptr;
    return e;
  }
  if (skip_op("{")) {
    auto e = make(ExprKind::dict);
    while (!failed() && !is_op("}")) {
      if (!e->args.empty() && !expect_op(",")) return nullptr;
      if (is_op("}")) break;
      auto k = parse_expression();
      if (!k || !expect_op(":")) return nullptr;
      auto v = parse_expression();
      if (!v) return nullptr;
      e->args.push_back(std::move(k));
      e->args.push_back(std::move(v));
    }
    if (!expect_op("}")) return nullptr;
    return e;
  }
  fail("unexpected " + (t.type == Tok::op ? "'" + t.text + "'" : std::string(t.type == Tok::eof ? "end of template" : "end of statement")));
  return nullptr;
}

ExprPtr Parser::parse_postfix(ExprPtr e) {
  while (e && !failed()) {
    if (skip_op(".")) {
      if (cur().type == Tok::integer) {
        auto it = make(ExprKind::item);
        auto idx = make(ExprKind::literal);
        idx->value = Value(t_[p_++].ival);
        it->args.push_back(std::move(e));
        it->args.push_back(std::move(idx));
        e = std::move(it);
        continue;
      }
      auto a = make(ExprKind::attr, expect_name());
      a->args.push_back(std::move(e));
      e = std::move(a);
    } else if (skip_op("[")) {
      e = parse_subscript(std::move(e));
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      break;
    }
  }
  return failed() ? nullptr : std::move(e);
}

ExprPtr Parser::parse_subscript(ExprPtr subject) {
  ExprPtr parts[3];
  bool is_slice = false;
  if (!is_op(":")) parts[0] = parse_expression();
  if (skip_op(":")) {
    is_slice = true;
    if (!is_op("]") && !is_op(":")) parts[1] = parse_expression();
    if (skip_op(":") && !is_op("]")) parts[2] = parse_expression();
  }
  if (failed() || !expect_op("]")) return nullptr;
  auto e = make(is_slice ? ExprKind::slice : ExprKind::item);
  e->args.push_back(std::move(subject));
  if (!is_slice) {
    e->args.push_back(std::move(parts[0]));
    return e;
  }
  for (auto& p : parts) e->args.push_back(std::move(p));
  return e;
}

// "(" [expr | name=expr] {, ...} ")" onto call.args / call.kwargs.
// callee(args...): a call node whose first argument is the callee.
ExprPtr Parser::parse_call(ExprPtr callee) {
  auto c = make(ExprKind::call);
  c->args.push_back(std::move(callee));
  if (!parse_call_args(*c)) return nullptr;
  return c;
}

bool Parser::parse_call_args(Expr& call) {
  if (!expect_op("(")) return false;
  bool first = true;
  while (!failed() && !is_op(")")) {
    if (!first && !expect_op(",")) return false;
    first = false;
    if (is_op(")")) break;
    if (cur().type == Tok::name && peek().type == Tok::op && peek().text == "=") {
      std::string k = t_[p_].text;
      p_ += 2;
      auto v = parse_expression();
      if (!v) return false;
      call.kwargs.emplace_back(std::move(k), std::move(v));
    } else {
      if (!call.kwargs.empty()) {
        fail("positional argument follows keyword argument");
        return false;
      }
      auto v = parse_expression();
      if (!v) return false;
      call.args.push_back(std::move(v));
    }
  }
  return expect_op(")");
}

ExprPtr Parser::parse_filter(ExprPtr subject) {
  std::string name = expect_name();
  while (!failed() && skip_op(".")) name += "." + expect_name();
  auto f = make(ExprKind::filter, name);
  f->args.push_back(std::move(subject));
  if (is_op("(") && !parse_call_args(*f)) return nullptr;
  return failed() ? nullptr : std::move(f);
}

ExprPtr Parser::parse_test(ExprPtr subject) {
  auto t = make(ExprKind::test);
  t->negated = skip_name("not");
  t->name = expect_name();
  while (!failed() && skip_op(".")) t->name += "." + expect_name();
  t->args.push_back(std::move(subject));
  const Token& c = cur();
  const bool arg_start = c.type == Tok::name || c.type == Tok::string || c.type == Tok::integer ||
                         c.type == Tok::floating || (c.type == Tok::op && (c.text == "[" || c.text == "{"));
  if (is_op("(")) {
    if (!parse_call_args(*t)) return nullptr;
  } else if (arg_start && !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) {
      fail("You cannot chain multiple tests with is");
      return nullptr;
    }
    auto a = parse_postfix(parse_primary());
    if (!a) return nullptr;
    t->args.push_back(std::move(a));
  }
  return failed() ? nullptr : std::move(t);
}

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
  while (e && !failed()) {
    if (skip_op("|")) {
      e = parse_filter(std::move(e));
    } else if (skip_name("is")) {
      e = parse_test(std::move(e));
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      break;
    }
  }
  return failed() ? nullptr : std::move(e);
}

}  // namespace shardlm::jinja
