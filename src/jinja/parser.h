// Jinja parser (module-private): tokens -> statement tree. Statements in parser.cpp,
// expressions (Jinja2's precedence: conditional, or, and, not, comparisons, + -, ~,
// * / // %, **, unary, then postfix . [] () and filters | / tests `is`) in
// parser-expr.cpp. Errors are "TemplateSyntaxError: ... (line N)".
#pragma once
#include <initializer_list>
#include <string>
#include <vector>

#include "jinja/ast.h"
#include "jinja/lexer.h"

namespace shardlm::jinja {

Result<Body> parse(std::vector<Token> tokens);

class Parser {
 public:
  explicit Parser(std::vector<Token> t) : t_(std::move(t)) {}
  Result<Body> parse_template();

 private:
  std::vector<Token> t_;
  size_t p_ = 0;
  Status err_;  // the first error; every parse function returns null after it

  // tokens
  const Token& cur() const { return t_[p_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  bool is_op(const char* op) const { return cur().type == Tok::op && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::name && cur().text == n; }
  bool skip_op(const char* op);
  bool skip_name(const char* n);
  bool expect_op(const char* op);
  bool expect_block_end();
  std::string expect_name();
  void fail(const std::string& what);
  bool failed() const { return !err_.is_ok(); }

  // statements (parser.cpp)
  bool parse_body(Body& out, std::initializer_list<const char*> ends, std::string* found);
  NodePtr parse_statement();
  NodePtr parse_if();
  NodePtr parse_for();
  NodePtr parse_set();
  NodePtr parse_macro();
  NodePtr parse_filter_block();
  bool parse_targets(std::vector<std::string>& names);

  // expressions (parser-expr.cpp)
  ExprPtr parse_expression(bool with_cond = true);
  ExprPtr parse_tuple_expr(bool with_cond = true);  // a, b -> tuple; one item -> itself
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter = true);
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_filter_expr(ExprPtr e);
  ExprPtr parse_filter(ExprPtr subject);
  ExprPtr parse_test(ExprPtr subject);
  ExprPtr parse_subscript(ExprPtr subject);
  ExprPtr parse_call(ExprPtr callee);
  bool parse_call_args(Expr& call);
  ExprPtr make(ExprKind k, std::string name = {});
  ExprPtr binary(std::string op, ExprPtr a, ExprPtr b);
};

}  // namespace shardlm::jinja
