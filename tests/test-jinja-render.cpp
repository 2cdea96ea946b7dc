// Jinja interpreter: hand-checked tables of templates and what Jinja2 (with
// transformers' settings: trim_blocks, lstrip_blocks) renders for them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "shardlm/jinja/template.h"

using namespace shardlm::jinja;

namespace {

struct Case {
  const char* tpl;
  const char* vars;  // JSON object
  const char* want;
};

std::string render(const char* tpl, const char* vars) {
  auto t = Template::parse(tpl);
  if (!t) return "PARSE " + t.message();
  auto r = t->render(nlohmann::ordered_json::parse(vars));
  return r ? *r : "ERROR " + r.message();
}

void check(const std::vector<Case>& cases) {
  for (const auto& c : cases) EXPECT_EQ(render(c.tpl, c.vars), c.want) << "template: " << c.tpl;
}

TEST(JinjaRender, WhitespaceControl) {
  check({
      {"a\n{% if true %}\nb\n{% endif %}\nc", "{}", "a\nb\nc"},         // trim_blocks
      {"a\n    {% if true %}\n  b\n    {% endif %}\nc", "{}", "a\n  b\nc"},  // lstrip_blocks
      {"a  {%- if true -%}  b  {%- endif -%}  c", "{}", "abc"},
      {"a\n  {%+ if true %}b{% endif %}", "{}", "a\n  b"},              // + keeps the indent
      {"{% if true +%}\nb{% endif %}", "{}", "\nb"},                    // +%} keeps the newline
      {"x {{ 1 }}\n{{ 2 }}", "{}", "x 1\n2"},                            // no trimming after }}
      {"  {{- 'a' -}}  \n b", "{}", "ab"},
      {"a {# note #}\nb", "{}", "a b"},
      {"line\n", "{}", "line"},                                          // one trailing newline goes
      {"line\n\n", "{}", "line\n"},
      {"{{ '%}' }}{{ {'a': {'b': 1}}['a']['b'] }}", "{}", "%}1"},
  });
}

TEST(JinjaRender, ExpressionsAndUndefined) {
  check({
      {"{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }}", "{}", "7 3 -4 1 2 3.5 1024"},
      {"{{ 'a' ~ 1 ~ none }} {{ 'ab' * 2 }} {{ [1] + [2] }}", "{}", "a1None abab [1, 2]"},
      {"{{ x }}|{{ x is defined }}|{{ x | length }}|{% for i in x %}no{% endfor %}", "{}", "|False|0|"},
      {"{{ x.y }}", "{}", "ERROR UndefinedError: 'x' is undefined"},
      {"{{ d.missing }}|{{ d.missing is defined }}", "{\"d\": {}}", "|False"},
      {"{{ d.missing.deeper }}", "{\"d\": {}}", "ERROR UndefinedError: 'dict object' has no attribute 'missing'"},
      {"{{ 1 + 'a' }}", "{}", "ERROR TypeError: unsupported operand type(s) for +: 'int' and 'str'"},
      {"{{ 'a' + 1 }}", "{}", "ERROR TypeError: can only concatenate str (not \"int\") to str"},
      {"{{ true }} {{ none }} {{ 1.0 }} {{ 1e20 }} {{ 0.1 + 0.2 }} {{ [1, 'a', none] }} {{ {'k': 'v'} }}", "{}",
       "True None 1.0 1e+20 0.30000000000000004 [1, 'a', None] {'k': 'v'}"},
      {"{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }}", "{}", "True True True True"},
      {"{{ x or 'd' }} {{ 0 and 1 }} {{ 'y' if not x else 'n' }} {{ 'a' if false }}|", "{}", "d 0 y |"},
      {"{{ s[::-1] }} {{ s[1:] }} {{ s[:-1] }} {{ s[-1] }} {{ l[1:3] }} {{ l[::2] }} {{ l[-2:] }}",
       "{\"s\": \"héllo\", \"l\": [1, 2, 3, 4]}", "olléh éllo héll o [2, 3] [1, 3] [3, 4]"},
      {"{{ x is none }} {{ x is not none }} {{ 's' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ 3 is divisibleby 3 }}",
       "{\"x\": null}", "True False True True True True"},
  });
}

TEST(JinjaRender, LoopsMacrosNamespace) {
  check({
      {"{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.revindex }},{% endfor %}",
       "{\"l\": [\"a\", \"b\"]}", "10TrueFalse2,21FalseTrue1,"},
      {"{% for x in l if x > 1 %}{{ x }}/{{ loop.length }} {% endfor %}", "{\"l\": [1, 2, 3]}", "2/2 3/2 "},
      {"{% for x in l %}{{ loop.previtem }}-{{ loop.nextitem }} {% endfor %}", "{\"l\": [1, 2]}", "-2 1- "},
      {"{% for x in [] %}a{% else %}empty{% endfor %}", "{}", "empty"},
      {"{% for x in [1, 2, 3] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 3 %}{% break %}{% endif %}{{ x }}{% endfor %}",
       "{}", "1"},
      {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "{\"d\": {\"b\": 1, \"a\": 2}}", "b=1;a=2;"},
      {"{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}", "{}", "1"},  // loops scope set
      {"{% set ns = namespace(x=1) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}", "{}", "4"},
      {"{% macro m(a, b='B') %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(2, b=3) }}{{ m() }}", "{}", "[1B][23][B]"},
      {"{% set s %}  body {{ 1 }} {% endset %}[{{ s }}]", "{}", "[  body 1 ]"},
      {"{% filter upper %}abc{% endfilter %}", "{}", "ABC"},
      {"{% if a %}1{% elif b %}2{% else %}3{% endif %}", "{\"b\": true}", "2"},
      {"{{ raise_exception('bad input') }}", "{}", "ERROR TemplateError: bad input"},
      {"{% for x in none %}{% endfor %}", "{}", "ERROR TypeError: 'NoneType' object is not iterable"},
  });
}

TEST(JinjaRender, SyntaxErrors) {
  EXPECT_EQ(render("{% if x %}", "{}").rfind("PARSE TemplateSyntaxError: Unexpected end of template", 0), 0u);
  EXPECT_EQ(render("{% frob %}", "{}").rfind("PARSE TemplateSyntaxError: Encountered unknown tag 'frob'", 0), 0u);
  EXPECT_EQ(render("{{ 1 + }}", "{}").rfind("PARSE TemplateSyntaxError", 0), 0u);
  EXPECT_EQ(render("{{ 'abc }}", "{}").rfind("PARSE TemplateSyntaxError", 0), 0u);
}

}  // namespace
