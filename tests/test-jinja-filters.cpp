// Jinja filters and str/dict methods: hand-checked against Jinja2's and Python's
// definitions (tojson as transformers overrides it: json.dumps, ensure_ascii=False).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "shardlm/jinja/template.h"

using namespace shardlm::jinja;

namespace {

std::string render(const char* tpl, const char* vars = "{}") {
  auto t = Template::parse(tpl);
  if (!t) return "PARSE " + t.message();
  auto r = t->render(nlohmann::ordered_json::parse(vars));
  return r ? *r : "ERROR " + r.message();
}

TEST(JinjaFilters, Tojson) {
  const char* v = R"({"d": {"b": [1, 2.5, null, true], "a": "é\"\n"}})";
  EXPECT_EQ(render("{{ d | tojson }}", v), R"({"b": [1, 2.5, null, true], "a": "é\"\n"})");
  EXPECT_EQ(render("{{ d | tojson(indent=2) }}", v),
            "{\n  \"b\": [\n    1,\n    2.5,\n    null,\n    true\n  ],\n  \"a\": \"é\\\"\\n\"\n}");
  EXPECT_EQ(render("{{ d | tojson(ensure_ascii=true, sort_keys=true) }}", v), R"({"a": "\u00e9\"\n", "b": [1, 2.5, null, true]})");
  EXPECT_EQ(render("{{ d | tojson(separators=(',', ':')) }}", v), R"({"b":[1,2.5,null,true],"a":"é\"\n"})");
  EXPECT_EQ(render("{{ [] | tojson(indent=2) }}{{ {} | tojson }}"), "[]{}");
  EXPECT_EQ(render("{{ '😀' | tojson(ensure_ascii=true) }}"), "\"\\ud83d\\ude00\"");
  EXPECT_EQ(render("{{ x | tojson }}"), "ERROR TypeError: Object of type Undefined is not JSON serializable");
}

TEST(JinjaFilters, Strings) {
  EXPECT_EQ(render("[{{ '  a b \n' | trim }}][{{ 'xxaxx' | trim('x') }}]"), "[a b][a]");
  EXPECT_EQ(render("{{ ' a '.strip() }}|{{ ' a '.lstrip() }}|{{ ' a '.rstrip() }}|{{ 'xax'.strip('x') }}"), "a|a | a|a");
  EXPECT_EQ(render("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }}"),
            "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c']");
  EXPECT_EQ(render("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'aXa'.replace('a', 'b') }}"),
            "True True bXb");
  EXPECT_EQ(render("{{ 'hello world'.title() }} {{ 'Ab'.upper() }} {{ 'Ab'.lower() }} {{ 'ab' | upper }} {{ 'hello' | capitalize }}"),
            "Hello World AB ab AB Hello");
  EXPECT_EQ(render("{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, first=true) }}|{{ 'a\n\nb' | indent(2, blank=true) }}"),
            "a\n  b\n\n  c|  a\n  b|a\n  \n  b");
  EXPECT_EQ(render("{{ 'x' | safe + '<&>' }}|{{ '<' + ('>' | safe) }}|{{ '\"' | e }}"), "x&lt;&amp;&gt;|&lt;>|&#34;");
  EXPECT_EQ(render("{{ 'ab' | list }} {{ 'héllo' | length }} {{ 42 | string }}{{ none | string }}"), "['a', 'b'] 5 42None");
}

TEST(JinjaFilters, Sequences) {
  const char* v = R"({"ms": [{"role": "system", "c": 1}, {"role": "user", "c": 2}, {"role": "user"}]})";
  EXPECT_EQ(render("{{ ms | selectattr('role', 'equalto', 'user') | list | length }}", v), "2");
  EXPECT_EQ(render("{{ ms | rejectattr('role', 'equalto', 'user') | map(attribute='c') | list }}", v), "[1]");
  EXPECT_EQ(render("{{ ms | selectattr('c') | map(attribute='role') | join(', ') }}", v), "system, user");
  EXPECT_EQ(render("{{ ms | map(attribute='c', default=0) | list }}", v), "[1, 2, 0]");
  EXPECT_EQ(render("{{ ms | selectattr('role', 'equalto', 'user') | length }}", v),
            "ERROR TypeError: object of type 'generator' has no len()");  // a generator, as in Jinja2
  EXPECT_EQ(render("{{ [1, 2, 3] | reject('equalto', 2) | join('-') }} {{ ['a', 'A', 'b'] | unique | list }}"), "1-3 ['a', 'b']");
  EXPECT_EQ(render("{{ [3, 1] | first }} {{ [3, 1] | last }} {{ [] | first }}| {{ ['x', 'y'] | map('upper') | join }}"), "3 1 | XY");
  EXPECT_EQ(render("{{ x | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ none | selectattr('a') | list }}"),
            "d  d []");
  EXPECT_EQ(render("{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 3.9 | int }} {{ '1.5' | float }}"), "42 4 0 3 1.5");
  EXPECT_EQ(render("{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 5) }} {{ d | items | list }} {{ d.keys() | list }}",
                   R"({"d": {"a": 1}})"),
            "1 None 5 [('a', 1)] ['a']");
  EXPECT_EQ(render("{{ (1,) }} {{ (1, 'a') }} {{ () }} {{ (1, 2) | tojson }}"), "(1,) (1, 'a') () [1, 2]");
  EXPECT_EQ(render("{{ range(3) | list }} {{ range(1, 6, 2) | list }} {{ [1, 2] | sum }}"), "[0, 1, 2] [1, 3, 5] 3");
  EXPECT_EQ(render("{{ [1].append(2) }}").rfind("ERROR SecurityError", 0), 0u);  // the immutable sandbox
}

}  // namespace
