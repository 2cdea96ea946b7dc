// Jinja parser: statements (if/elif/else, for/else with loop filters, set incl.
// ns.attr and block set, macro, filter blocks, break/continue).
#include "jinja/parser.h"

namespace shardlm::jinja {

Result<Body> parse(std::vector<Token> tokens) { return Parser(std::move(tokens)).parse_template(); }

void Parser::fail(const std::string& what) {
  if (err_.is_ok()) err_ = Status::error("TemplateSyntaxError: " + what + " (line " + std::to_string(cur().line) + ")");
}

bool Parser::skip_op(const char* op) {
  if (!is_op(op)) return false;
  ++p_;
  return true;
}

bool Parser::skip_name(const char* n) {
  if (!is_name(n)) return false;
  ++p_;
  return true;
}

static std::string describe(const Token& t) {
  switch (t.type) {
    case Tok::var_end: return "end of print statement";
    case Tok::block_end: return "end of statement block";
    case Tok::eof: return "end of template";
    case Tok::name: return "'" + t.text + "'";
    case Tok::string: return "string";
    case Tok::integer:
    case Tok::floating: return "number";
    default: return "'" + t.text + "'";
  }
}

bool Parser::expect_op(const char* op) {
  if (skip_op(op)) return true;
  fail(std::string("expected token '") + op + "', got " + describe(cur()));
  return false;
}

bool Parser::expect_block_end() {
  if (cur().type == Tok::block_end) {
    ++p_;
    return true;
  }
  fail("expected token 'end of statement block', got " + describe(cur()));
  return false;
}

std::string Parser::expect_name() {
  if (cur().type == Tok::name) return t_[p_++].text;
  fail("expected token 'name', got " + describe(cur()));
  return {};
}

Result<Body> Parser::parse_template() {
  Body body;
  parse_body(body, {}, nullptr);
  if (failed()) return err_;
  return body;
}

// Nodes up to a block tag named in `ends` (its name consumed, the rest of the tag not).
bool Parser::parse_body(Body& out, std::initializer_list<const char*> ends, std::string* found) {
  while (!failed()) {
    const Token& t = cur();
    if (t.type == Tok::eof) {
      if (ends.size() == 0) return true;
      std::string want;
      for (const char* e : ends) want += std::string(want.empty() ? "" : " or ") + "'" + e + "'";
      fail("Unexpected end of template. Jinja was looking for the following tags: " + want + ".");
      return false;
    }
    if (t.type == Tok::text) {
      auto n = std::make_unique<Node>();
      n->kind = NodeKind::text;
      n->text = t.text;
      out.push_back(std::move(n));
      ++p_;
    } else if (t.type == Tok::var_begin) {
      auto n = std::make_unique<Node>();
      n->kind = NodeKind::output;
      n->line = t.line;
      ++p_;
      n->expr = parse_tuple_expr();
      if (failed()) return false;
      if (cur().type != Tok::var_end) {
        fail("expected token 'end of print statement', got " + describe(cur()));
        return false;
      }
      ++p_;
      out.push_back(std::move(n));
    } else if (t.type == Tok::block_begin) {
      if (peek().type == Tok::name)
        for (const char* e : ends)
          if (peek().text == e) {
            p_ += 2;
            if (found) *found = e;
            return true;
          }
      ++p_;
      auto n = parse_statement();
      if (!n) return false;
      if (n->kind == NodeKind::if_ && n->text == "generation") {  // transformers' {% generation %}: its body
        for (auto& b : n->branches.front().second) out.push_back(std::move(b));
      } else {
        out.push_back(std::move(n));
      }
    } else {
      fail("unexpected " + describe(t));
      return false;
    }
  }
  return false;
}

NodePtr Parser::parse_statement() {
  const Token& t = cur();
  if (t.type != Tok::name) {
    fail("tag name expected");
    return nullptr;
  }
  const std::string name = t.text;
  const int line = t.line;
  ++p_;
  NodePtr n;
  if (name == "if") n = parse_if();
  else if (name == "for") n = parse_for();
  else if (name == "set") n = parse_set();
  else if (name == "macro") n = parse_macro();
  else if (name == "filter") n = parse_filter_block();
  else if (name == "break" || name == "continue") {
    if (!expect_block_end()) return nullptr;
    n = std::make_unique<Node>();
    n->kind = name == "break" ? NodeKind::break_ : NodeKind::continue_;
  } else if (name == "generation") {
    if (!expect_block_end()) return nullptr;
    n = std::make_unique<Node>();
    n->kind = NodeKind::if_;
    n->text = "generation";
    Body body;
    if (!parse_body(body, {"endgeneration"}, nullptr) || !expect_block_end()) return nullptr;
    n->branches.emplace_back(nullptr, std::move(body));
  } else {
    fail("Encountered unknown tag '" + name + "'.");
    return nullptr;
  }
  if (n) n->line = line;
  return failed() ? nullptr : std::move(n);
}

NodePtr Parser::parse_if() {
  auto n = std::make_unique<Node>();
  n->kind = NodeKind::if_;
  ExprPtr cond = parse_tuple_expr();
  while (!failed()) {
    if (!expect_block_end()) return nullptr;
    Body body;
    std::string found;
    if (!parse_body(body, {"elif", "else", "endif"}, &found)) return nullptr;
    n->branches.emplace_back(std::move(cond), std::move(body));
    if (found == "endif") break;
    if (found == "elif") {
      cond = parse_tuple_expr();
      continue;
    }
    if (!expect_block_end()) return nullptr;  // else
    Body else_body;
    if (!parse_body(else_body, {"endif"}, nullptr)) return nullptr;
    n->branches.emplace_back(nullptr, std::move(else_body));
    break;
  }
  if (!expect_block_end()) return nullptr;
  return n;
}

bool Parser::parse_targets(std::vector<std::string>& names) {
  do {
    if (skip_op("(")) {  // (a, b)
      if (!parse_targets(names) || !expect_op(")")) return false;
    } else {
      names.push_back(expect_name());
    }
  } while (!failed() && skip_op(","));
  return !failed();
}

NodePtr Parser::parse_for() {
  auto n = std::make_unique<Node>();
  n->kind = NodeKind::for_;
  if (!parse_targets(n->targets)) return nullptr;
  if (!skip_name("in")) {
    fail("expected 'in', got " + describe(cur()));
    return nullptr;
  }
  n->expr = parse_tuple_expr(false);
  if (skip_name("if")) n->cond = parse_expression();
  if (skip_name("recursive")) fail("recursive loops are not supported");
  if (failed() || !expect_block_end()) return nullptr;
  std::string found;
  if (!parse_body(n->body, {"else", "endfor"}, &found)) return nullptr;
  if (found == "else") {
    if (!expect_block_end() || !parse_body(n->else_body, {"endfor"}, nullptr)) return nullptr;
  }
  if (!expect_block_end()) return nullptr;
  return n;
}

NodePtr Parser::parse_set() {
  auto n = std::make_unique<Node>();
  n->kind = NodeKind::set;
  if (cur().type == Tok::name && peek().type == Tok::op && peek().text == ".") {
    auto obj = make(ExprKind::name, expect_name());
    ++p_;  // '.'
    auto a = make(ExprKind::attr, expect_name());
    a->args.push_back(std::move(obj));
    n->target_expr = std::move(a);
  } else if (!parse_targets(n->targets)) {
    return nullptr;
  }
  if (skip_op("=")) {
    n->expr = parse_tuple_expr();
    if (failed() || !expect_block_end()) return nullptr;
    return n;
  }
  if (n->target_expr || n->targets.size() != 1) {
    fail("expected token '='");
    return nullptr;
  }
  n->kind = NodeKind::set_block;
  if (!expect_block_end() || !parse_body(n->body, {"endset"}, nullptr) || !expect_block_end()) return nullptr;
  return n;
}

NodePtr Parser::parse_macro() {
  auto n = std::make_unique<Node>();
  n->kind = NodeKind::macro;
  n->text = expect_name();
  if (!expect_op("(")) return nullptr;
  while (!failed() && !is_op(")")) {
    if (!n->params.empty() && !expect_op(",")) return nullptr;
    MacroParam mp;
    mp.name = expect_name();
    if (skip_op("=")) mp.default_value = parse_expression();
    n->params.push_back(std::move(mp));
  }
  if (!expect_op(")") || !expect_block_end()) return nullptr;
  if (!parse_body(n->body, {"endmacro"}, nullptr)) return nullptr;
  if (cur().type == Tok::name) ++p_;  // {% endmacro name %}
  if (!expect_block_end()) return nullptr;
  return n;
}

NodePtr Parser::parse_filter_block() {
  auto n = std::make_unique<Node>();
  n->kind = NodeKind::filter_block;
  ExprPtr f = parse_filter(nullptr);
  while (!failed() && skip_op("|")) f = parse_filter(std::move(f));
  if (failed() || !expect_block_end()) return nullptr;
  n->expr = std::move(f);
  if (!parse_body(n->body, {"endfilter"}, nullptr) || !expect_block_end()) return nullptr;
  return n;
}

}  // namespace shardlm::jinja
