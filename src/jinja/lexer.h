// Jinja lexer (module-private): template source -> tokens, with Jinja2's whitespace
// control as transformers configures it: trim_blocks (the first newline after a block
// or comment tag goes), lstrip_blocks (spaces and tabs before a block or comment tag
// at the start of a line go), `{%-`/`-%}` strip all whitespace on that side, `{%+`/`+%}`
// keep it, and keep_trailing_newline=False (one trailing newline of the source goes).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shardlm/core/status.h"

namespace shardlm::jinja {

enum class Tok { text, var_begin, var_end, block_begin, block_end, name, string, integer, floating, op, eof };

struct Token {
  Tok type;
  std::string text;  // text, name, string (unescaped), op
  int64_t ival = 0;
  double fval = 0;
  int line = 1;
};

struct LexOptions {
  bool trim_blocks = true;             // default true (transformers)
  bool lstrip_blocks = true;           // default true (transformers)
  bool keep_trailing_newline = false;  // default false (Jinja2)
};

// Errors: "TemplateSyntaxError: ... (line N)".
Result<std::vector<Token>> lex(std::string_view source, const LexOptions& opts = {});

}  // namespace shardlm::jinja
