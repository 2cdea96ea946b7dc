// A Jinja2 template interpreter for chat templates (the subset real templates use).
//
// Template::parse lexes and parses once (TemplateSyntaxError on a bad template);
// render() runs it against variables. Statements: if/elif/else, for (loop.*, `if`
// filter in the header, else, break/continue), set (also `ns.attr` and block set),
// macro, filter blocks; expressions with Jinja2's operators, slicing, filters and
// tests; the globals range, namespace, dict, raise_exception, strftime_now. Undefined
// behaves as Jinja2's default Undefined (prints "", is false, iterates as empty; an
// attribute of it, arithmetic on it or calling it is an UndefinedError).
//
// Errors are values with Jinja2's kind of message: "TemplateSyntaxError: ... (line N)",
// "UndefinedError: 'x' is undefined", "TypeError: ...", "TemplateError: <the message
// of raise_exception>".
//
// Thread safety: a parsed Template is immutable; render() may run on several threads
// at once (each render has its own state).
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "shardlm/core/status.h"
#include "shardlm/jinja/value.h"

namespace shardlm::jinja {

struct TemplateOptions {
  bool trim_blocks = true;             // default true (as transformers renders chat templates)
  bool lstrip_blocks = true;           // default true (transformers)
  bool keep_trailing_newline = false;  // default false (Jinja2's default)
};

class Template {
 public:
  static Result<Template> parse(std::string_view source, const TemplateOptions& opts = {});
  // Each key of `vars` (a JSON object) becomes a variable.
  Result<std::string> render(const nlohmann::ordered_json& vars) const;
  Result<std::string> render(const ValueDict& vars) const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace shardlm::jinja
