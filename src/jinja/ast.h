// Jinja syntax tree (module-private): expressions and statements as the parser builds
// them and the interpreter walks them.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "shardlm/jinja/value.h"

namespace shardlm::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  literal,    // value
  name,       // name
  list,       // args: items
  tuple,      // args: items
  dict,       // args: key0, value0, key1, value1, ...
  attr,       // args[0].name
  item,       // args[0][args[1]]
  slice,      // args[0][args[1]:args[2]:args[3]] (null parts absent)
  call,       // args[0](args[1..], kwargs)
  filter,     // args[0] | name(args[1..], kwargs)
  test,       // args[0] is [not] name(args[1..])
  unary,      // name: "-", "+", "not"
  binary,     // name: operator ("+", "==", "in", "not in", "and", "or", ...); args[0], args[1]
  cond,       // args[1] if args[0] else args[2] (args[2] may be null)
};

struct Expr {
  ExprKind kind = ExprKind::literal;
  std::string name;
  Value value;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negated = false;  // test: "is not"
  int line = 0;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

enum class NodeKind {
  text,         // text
  output,       // {{ expr }}
  if_,          // branches (cond, body); a null cond is else
  for_,         // targets in expr [if cond]: body [else else_body]
  set,          // targets (or target_expr: ns.attr) = expr
  set_block,    // {% set targets[0] %}body{% endset %}
  macro,        // name(params) body
  filter_block, // {% filter expr %} body (expr: a filter node on a null subject)
  break_,
  continue_,
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct Node {
  NodeKind kind = NodeKind::text;
  std::string text;               // text; macro name
  ExprPtr expr;                   // output, set value, for iterable, filter_block filter
  ExprPtr cond;                   // for: the `if` filter
  ExprPtr target_expr;            // set ns.attr = ...: the attr expression
  std::vector<std::string> targets;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
  std::vector<MacroParam> params;
  int line = 0;
};

}  // namespace shardlm::jinja
