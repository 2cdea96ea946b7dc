// Jinja interpreter: statements, and Template::parse / render.
#include <nlohmann/json.hpp>

#include "jinja/interp.h"
#include "jinja/parser.h"
#include "shardlm/jinja/template.h"

namespace shardlm::jinja {

Status Interpreter::run(const Body& body, ScopePtr globals, std::string& out) { return exec(body, globals, out); }

Status Interpreter::exec(const Body& body, const ScopePtr& s, std::string& out) {
  for (const auto& n : body) {
    SHARDLM_TRY(exec_node(*n, s, out));
    if (flow_ != Flow::normal) break;
  }
  return {};
}

Status Interpreter::exec_node(const Node& n, const ScopePtr& s, std::string& out) {
  switch (n.kind) {
    case NodeKind::text: out += n.text; return {};
    case NodeKind::output: {
      auto v = eval(*n.expr, s);
      if (!v) return v.status();
      out += v->str();
      return {};
    }
    case NodeKind::if_: return exec_if(n, s, out);
    case NodeKind::for_: return exec_for(n, s, out);
    case NodeKind::set:
    case NodeKind::set_block: return exec_set(n, s, out);
    case NodeKind::macro: s->vars[n.text] = make_macro(n, s); return {};
    case NodeKind::filter_block: {
      std::string body;
      SHARDLM_TRY(exec(n.body, s, body));
      const Value text(std::move(body));
      auto v = eval_filter(*n.expr, s, &text);
      if (!v) return v.status();
      out += v->str();
      return {};
    }
    case NodeKind::break_: flow_ = Flow::break_; return {};
    case NodeKind::continue_: flow_ = Flow::continue_; return {};
  }
  return {};
}

Status Interpreter::exec_if(const Node& n, const ScopePtr& s, std::string& out) {
  for (const auto& [cond, body] : n.branches) {
    if (cond) {
      auto c = eval(*cond, s);
      if (!c) return c.status();
      if (!c->truthy()) continue;
    }
    return exec(body, s, out);
  }
  return {};
}

namespace {

Status bind_targets(Scope& sc, const std::vector<std::string>& targets, const Value& v) {
  if (targets.size() == 1) {
    sc.vars[targets[0]] = v;
    return {};
  }
  auto items = iterate(v);
  if (!items) return items.status();
  if (items->size() != targets.size())
    return Status::error(std::string("ValueError: ") + (items->size() > targets.size() ? "too many values to unpack" : "not enough values to unpack") +
                         " (expected " + std::to_string(targets.size()) + ", got " + std::to_string(items->size()) + ")");
  for (size_t i = 0; i < targets.size(); ++i) sc.vars[targets[i]] = (*items)[i];
  return {};
}

Value loop_value(const ValueList& items, size_t i) {
  const auto n = static_cast<int64_t>(items.size());
  const auto k = static_cast<int64_t>(i);
  ValueDict d{{"index", Value(k + 1)},       {"index0", Value(k)},
              {"revindex", Value(n - k)},    {"revindex0", Value(n - k - 1)},
              {"first", Value(k == 0)},      {"last", Value(k == n - 1)},
              {"length", Value(n)},          {"depth", Value(1)},
              {"depth0", Value(0)}};
  d.emplace_back("previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
  d.emplace_back("nextitem", k + 1 < n ? items[i + 1] : Value::undefined("there is no next item"));
  d.emplace_back("cycle", Value::function("loop.cycle", [k](const CallArgs& a) -> Result<Value> {
                   if (a.pos.empty()) return type_error("no items for cycling given");
                   return a.pos[static_cast<size_t>(k) % a.pos.size()];
                 }));
  return Value(std::move(d));
}

}  // namespace

Status Interpreter::exec_for(const Node& n, const ScopePtr& s, std::string& out) {
  auto seq = eval(*n.expr, s);
  if (!seq) return seq.status();
  auto all = iterate(*seq);
  if (!all) return all.status();
  ValueList items;
  if (n.cond) {
    auto fs = std::make_shared<Scope>();
    fs->parent = s;
    for (const auto& v : *all) {
      SHARDLM_TRY(bind_targets(*fs, n.targets, v));
      auto c = eval(*n.cond, fs);
      if (!c) return c.status();
      if (c->truthy()) items.push_back(v);
    }
  } else {
    items = std::move(*all);
  }
  if (items.empty()) return exec(n.else_body, s, out);
  auto ls = std::make_shared<Scope>();
  ls->parent = s;
  for (size_t i = 0; i < items.size(); ++i) {
    SHARDLM_TRY(bind_targets(*ls, n.targets, items[i]));
    ls->vars["loop"] = loop_value(items, i);
    SHARDLM_TRY(exec(n.body, ls, out));
    if (flow_ == Flow::break_) {
      flow_ = Flow::normal;
      break;
    }
    flow_ = Flow::normal;
  }
  return {};
}

Status Interpreter::exec_set(const Node& n, const ScopePtr& s, std::string&) {
  Value v;
  if (n.kind == NodeKind::set_block) {
    std::string body;
    SHARDLM_TRY(exec(n.body, s, body));
    v = Value(std::move(body));
  } else {
    auto r = eval(*n.expr, s);
    if (!r) return r.status();
    v = std::move(*r);
  }
  if (n.target_expr) {
    const Value* ns = s->find(n.target_expr->args[0]->name);
    if (!ns || !ns->is_namespace()) return Status::error("TemplateRuntimeError: cannot assign attribute on non-namespace object");
    for (auto& kv : ns->mutable_dict())
      if (kv.first == n.target_expr->name) {
        kv.second = std::move(v);
        return {};
      }
    ns->mutable_dict().emplace_back(n.target_expr->name, std::move(v));
    return {};
  }
  return bind_targets(*s, n.targets, v);
}

Value Interpreter::make_macro(const Node& n, const ScopePtr& s) {
  const Node* node = &n;
  return Value::function(n.text, [this, node, s](const CallArgs& a) -> Result<Value> {
    const auto& ps = node->params;
    if (a.pos.size() > ps.size())
      return type_error("macro '" + node->text + "' takes not more than " + std::to_string(ps.size()) + " argument(s)");
    auto ms = std::make_shared<Scope>();
    ms->parent = s;
    for (const auto& [k, v] : a.kw) {
      bool known = false;
      for (const auto& p : ps) known = known || p.name == k;
      if (!known) return type_error("macro '" + node->text + "' takes no keyword argument '" + k + "'");
    }
    for (size_t i = 0; i < ps.size(); ++i) {
      if (const Value* v = a.get(i, ps[i].name)) {
        ms->vars[ps[i].name] = *v;
      } else if (ps[i].default_value) {
        auto d = eval(*ps[i].default_value, ms);
        if (!d) return d;
        ms->vars[ps[i].name] = std::move(*d);
      } else {
        ms->vars[ps[i].name] = Value::undefined("parameter '" + ps[i].name + "' was not provided");
      }
    }
    if (++depth_ > 200) return Status::error("RecursionError: maximum recursion depth exceeded");
    std::string out;
    const Flow saved = flow_;
    Status st = exec(node->body, ms, out);
    flow_ = saved;
    --depth_;
    if (!st) return st;
    return Value(std::move(out));
  });
}

// ---- Template ----

struct Template::Impl {
  Body body;
};

Result<Template> Template::parse(std::string_view source, const TemplateOptions& opts) {
  LexOptions lo;
  lo.trim_blocks = opts.trim_blocks;
  lo.lstrip_blocks = opts.lstrip_blocks;
  lo.keep_trailing_newline = opts.keep_trailing_newline;
  auto toks = lex(source, lo);
  if (!toks) return toks.status();
  auto body = jinja::parse(std::move(*toks));
  if (!body) return body.status();
  auto impl = std::make_shared<Impl>();
  impl->body = std::move(*body);
  Template t;
  t.impl_ = std::move(impl);
  return t;
}

Result<std::string> Template::render(const ValueDict& vars) const {
  auto g = std::make_shared<Scope>();
  for (const auto& [k, v] : vars) g->vars[k] = v;
  Interpreter in;
  std::string out;
  SHARDLM_TRY(in.run(impl_->body, g, out));
  return out;
}

Result<std::string> Template::render(const nlohmann::ordered_json& vars) const {
  ValueDict d;
  if (vars.is_object())
    for (const auto& [k, v] : vars.items()) d.emplace_back(k, Value::from_json(v));
  return render(d);
}

}  // namespace shardlm::jinja
