// grammar/: the keywords real tool schemas use ($ref/$defs, allOf, oneOf, minLength/
// maxLength, integer bounds, pattern, format, additionalProperties as a schema): whole
// documents accepted or refused at the boundaries (limits ±1, range ends, leading zeros,
// negative zero, anchors), and prefixes refused as soon as nothing can complete them.
// The generated-corpus agreement with python3-jsonschema is in test-grammar-schema.cpp,
// the sampled walks on real vocabularies in test-grammar-mask.cpp.
#include <gtest/gtest.h>

#include "shardlm/grammar/grammar.h"

namespace g = shardlm::grammar;
using nlohmann::json;

namespace {

std::shared_ptr<const g::Grammar> compiled(const char* schema) {
  auto r = g::compile(json::parse(schema));
  EXPECT_TRUE(r) << schema << ": " << r.message();
  return r ? r.value() : nullptr;
}

bool matches(const std::shared_ptr<const g::Grammar>& gr, const std::string& doc) {
  g::GrammarState st(gr);
  for (unsigned char c : doc)
    if (!st.advance_byte(c)) return false;
  return st.is_complete();
}

bool prefix_ok(const std::shared_ptr<const g::Grammar>& gr, const std::string& prefix) {
  g::GrammarState st(gr);
  return st.advance(prefix);
}

void expect_docs(const char* schema, std::initializer_list<const char*> yes, std::initializer_list<const char*> no) {
  auto gr = compiled(schema);
  ASSERT_TRUE(gr);
  for (const char* d : yes) EXPECT_TRUE(matches(gr, d)) << schema << " should accept " << d;
  for (const char* d : no) EXPECT_FALSE(matches(gr, d)) << schema << " should refuse " << d;
}

}  // namespace

TEST(GrammarKeywords, RefToDefsDefinitionsAndRoot) {
  expect_docs(R"({"$defs":{"p":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}},
                 "type":"object","properties":{"a":{"$ref":"#/$defs/p"},"b":{"$ref":"#/$defs/p"}},"required":["a"]})",
              {R"({"a":{"x":1}})", R"({"b":{"x":2},"a":{"x":-3}})"}, {R"({"a":{}})", R"({"b":{"x":1}})", R"({"a":1})"});
  expect_docs(R"({"definitions":{"c":{"enum":["r","g"]}},"type":"array","items":{"$ref":"#/definitions/c"}})",
              {R"(["r","g","r"])", "[]"}, {R"(["b"])"});
  // Recursion: a tree through "#" and through $defs.
  expect_docs(R"({"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#"}}},
                 "required":["v"]})",
              {R"({"v":1})", R"({"v":1,"kids":[{"v":2,"kids":[{"v":3}]},{"v":4}]})"}, {R"({"v":1,"kids":[{}]})"});
  expect_docs(R"({"$ref":"#/$defs/list","$defs":{"list":{"anyOf":[{"type":"null"},
                 {"type":"object","properties":{"h":{"type":"string"},"t":{"$ref":"#/$defs/list"}},"required":["h","t"]}]}}})",
              {"null", R"({"h":"a","t":{"h":"b","t":null}})"}, {R"({"h":"a"})", R"({"h":"a","t":{"h":1,"t":null}})"});
  // A JSON pointer with escapes (~1 = '/', ~0 = '~', %25 = '%').
  expect_docs(R"({"$defs":{"a/b":{"const":1},"c~d":{"const":2},"e%f":{"const":3}},
                 "type":"array","items":{"anyOf":[{"$ref":"#/$defs/a~1b"},{"$ref":"#/$defs/c~0d"},{"$ref":"#/$defs/e%25f"}]}})",
              {"[1,2,3]"}, {"[4]"});
}

TEST(GrammarKeywords, AllOfMergesObjectsAndOneOfIsAnyOf) {
  // pydantic: one $ref wrapped in allOf, with annotations beside it.
  expect_docs(R"({"$defs":{"U":{"type":"object","properties":{"n":{"type":"string"}},"required":["n"]}},
                 "type":"object","properties":{"u":{"allOf":[{"$ref":"#/$defs/U"}],"description":"the user"}},"required":["u"]})",
              {R"({"u":{"n":"x"}})"}, {R"({"u":{}})", R"({"u":{"n":1}})"});
  // Object members merge: union of properties and of required.
  expect_docs(R"({"allOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},
                 {"properties":{"b":{"type":"boolean"}},"required":["b"]},{"$ref":"#/$defs/C"}],
                 "$defs":{"C":{"properties":{"c":{"type":"null"}}}}})",
              {R"({"a":1,"b":true})", R"({"c":null,"b":false,"a":2})"}, {R"({"a":1})", R"({"a":1,"b":true,"d":1})"});
  expect_docs(R"({"oneOf":[{"type":"integer"},{"type":"string","maxLength":1}]})", {"7", R"("a")"}, {R"("ab")", "1.5"});
}

TEST(GrammarKeywords, StringLengthInCodePoints) {
  const char* s = R"({"type":"string","minLength":2,"maxLength":3})";
  expect_docs(s, {R"("ab")", R"("abc")", R"("\n\t")", R"("\u00e9x")", "\"\xc3\xa9\xe2\x82\xac\"", R"("\ud83d\ude00a")",
                  "\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\""},
              {R"("")", R"("a")", R"("abcd")", R"("\n")", R"("\u00e9")", R"("\ud83d\ude00")", "\"\xc3\xa9\"",
               R"("ab\n\t")"});
  auto gr = compiled(s);
  ASSERT_TRUE(gr);
  EXPECT_TRUE(prefix_ok(gr, "\"abc"));
  EXPECT_FALSE(prefix_ok(gr, "\"abcd"));      // the 4th character is refused at once
  EXPECT_FALSE(prefix_ok(gr, "\"abc\\"));     // so is an escape that would add one
  EXPECT_FALSE(prefix_ok(gr, "\"abc\xc3"));   // and a UTF-8 lead byte
  EXPECT_TRUE(prefix_ok(gr, "\"ab\\ud83d\\"));  // a high surrogate: its low half adds nothing
  EXPECT_TRUE(matches(gr, "\"ab\\ud83d\\ude00\""));
  EXPECT_FALSE(prefix_ok(gr, "\"ab\\ud83d\\u0"));  // after 3 characters only the pair's low half fits
  expect_docs(R"({"type":"string","maxLength":0})", {R"("")"}, {R"("a")"});
  expect_docs(R"({"type":"string","minLength":1})", {R"("a")", R"("aaaaaaaaaaaaaaaaaaaaaaaa")"}, {R"("")"});
}

TEST(GrammarKeywords, IntegerBoundsExact) {
  const char* s = R"({"type":"integer","minimum":-12,"maximum":105})";
  expect_docs(s, {"-12", "-11", "-1", "0", "-0", "9", "10", "99", "100", "105"},
              {"-13", "-120", "106", "110", "1000", "05", "-05", "00", "1.0", "1e2", "-"});
  expect_docs(R"({"type":"integer","exclusiveMinimum":5,"exclusiveMaximum":8})", {"6", "7"}, {"5", "8", "-6", "0"});
  expect_docs(R"({"type":"integer","minimum":-20,"maximum":-10})", {"-10", "-15", "-20"},
              {"-9", "-21", "-0", "0", "10", "-100"});
  expect_docs(R"({"type":"integer","minimum":0})", {"0", "-0", "123456789012345"}, {"-1", "1234567890123456"});
  expect_docs(R"({"type":"integer","maximum":0})", {"0", "-0", "-999"}, {"1"});
  expect_docs(R"({"type":"integer","minimum":1.5,"maximum":3.5})", {"2", "3"}, {"1", "4"});
  expect_docs(R"({"type":"integer","minimum":3,"exclusiveMinimum":true,"maximum":5,"exclusiveMaximum":true})", {"4"},
              {"3", "5"});  // draft 4 flags
  expect_docs(R"({"type":["integer","null"],"minimum":1,"maximum":1})", {"1", "null"}, {"0", "2"});
}

TEST(GrammarKeywords, IntegerPrefixesThatCannotEndInsideAreRefused) {
  auto gr = compiled(R"({"type":"integer","minimum":-12,"maximum":105})");
  ASSERT_TRUE(gr);
  EXPECT_TRUE(prefix_ok(gr, "10"));    // 10, 100..105
  EXPECT_TRUE(prefix_ok(gr, "105"));
  EXPECT_FALSE(prefix_ok(gr, "106"));  // refused at the 6
  EXPECT_TRUE(prefix_ok(gr, "20"));
  EXPECT_FALSE(prefix_ok(gr, "200"));
  EXPECT_TRUE(prefix_ok(gr, "-1"));    // -1, -10..-12
  EXPECT_FALSE(prefix_ok(gr, "-13"));
  EXPECT_FALSE(prefix_ok(gr, "-20"));
  EXPECT_FALSE(prefix_ok(gr, "01"));   // no leading zero
  g::GrammarState st(gr);
  ASSERT_TRUE(st.advance("1"));
  EXPECT_TRUE(st.is_complete());
  auto neg = compiled(R"({"type":"integer","minimum":-20,"maximum":-10})");
  ASSERT_TRUE(neg);
  EXPECT_FALSE(prefix_ok(neg, "1"));   // no positive value
  EXPECT_FALSE(prefix_ok(neg, "-0"));
  g::GrammarState n(neg);
  ASSERT_TRUE(n.advance("-1"));
  EXPECT_FALSE(n.is_complete());       // -1 > -10: only -10..-19 continue
  EXPECT_TRUE(n.advance("9"));
  EXPECT_TRUE(n.is_complete());
  EXPECT_FALSE(n.can_accept("0"));     // -190
}

TEST(GrammarKeywords, PatternSearchAndAnchors) {
  expect_docs(R"({"type":"string","pattern":"^ab"})", {R"("ab")", R"("abz")"}, {R"("a")", R"("zab")", R"("")"});
  expect_docs(R"({"type":"string","pattern":"b$"})", {R"("b")", R"("aab")"}, {R"("ba")", R"("")"});
  expect_docs(R"({"type":"string","pattern":"abc"})", {R"("abc")", R"("xxabcxx")"}, {R"("ab")", R"("xbc")"});
  expect_docs(R"({"type":"string","pattern":"^[a-z]+-[0-9]{2}$"})", {R"("ab-12")", R"("z-00")"},
              {R"("ab-1")", R"("ab-123")", R"("Ab-12")", R"("-12")", R"("ab-12\n")"});
  auto gr = compiled(R"({"type":"string","pattern":"^[a-z]+-[0-9]{2}$"})");
  ASSERT_TRUE(gr);
  EXPECT_TRUE(prefix_ok(gr, "\"ab-1"));
  EXPECT_FALSE(prefix_ok(gr, "\"ab-1x"));  // refused at the byte
  EXPECT_FALSE(prefix_ok(gr, "\"A"));
  EXPECT_FALSE(prefix_ok(gr, "\"ab-1\""));  // closes only on a whole match
  EXPECT_FALSE(prefix_ok(gr, "\"\xc3"));    // no character from this lead byte can match
  EXPECT_FALSE(prefix_ok(gr, "\"\\n"));
  EXPECT_TRUE(prefix_ok(gr, "\"\\u0061"));  // 'a' escaped: the decoded value is matched
  EXPECT_TRUE(prefix_ok(gr, "\"\\u00"));
  EXPECT_FALSE(prefix_ok(gr, "\"\\u01"));   // no \u01XX is a lowercase ASCII letter
  // Non-ASCII characters as UTF-8 and as escapes; surrogate escapes are refused.
  expect_docs(R"({"type":"string","pattern":"^é+$"})", {"\"\xc3\xa9\xc3\xa9\"", R"("\u00e9")"}, {R"("e")"});
  expect_docs(R"({"type":"string","pattern":"^.$"})", {"\"\xf0\x9f\x98\x80\""}, {R"("\ud83d\ude00")"});
  // Length bound on the decoded value under a pattern.
  gr = compiled(R"({"type":"string","pattern":"^a*$"})");
  ASSERT_TRUE(gr);
  EXPECT_TRUE(matches(gr, "\"" + std::string(256, 'a') + "\""));
  EXPECT_FALSE(prefix_ok(gr, "\"" + std::string(257, 'a')));
}

TEST(GrammarKeywords, Formats) {
  expect_docs(R"({"type":"string","format":"date"})", {R"("2024-02-29")", R"("2000-02-29")", R"("2023-12-31")", R"("0001-01-01")"},
              {R"("2023-02-29")", R"("1900-02-29")", R"("2023-13-01")", R"("2023-04-31")", R"("0000-01-01")",
               R"("2023-1-01")", R"("20230101")"});
  expect_docs(R"({"type":"string","format":"time"})", {R"("23:59:59Z")", R"("00:00:00.123+05:30")", R"("12:00:00-01:00")"},
              {R"("24:00:00Z")", R"("12:60:00Z")", R"("12:00:00")", R"("12:00Z")", R"("12:00:00.Z")"});
  expect_docs(R"({"type":"string","format":"date-time"})", {R"("2024-01-31T10:20:30Z")", R"("2024-01-31T10:20:30.5+01:00")"},
              {R"("2024-01-31 10:20:30Z")", R"("2024-01-31T10:20:30")", R"("2024-02-30T10:20:30Z")"});
  expect_docs(R"({"type":"string","format":"uuid"})", {R"("123e4567-e89b-12d3-a456-426614174000")",
                                                        R"("123E4567-E89B-12D3-A456-426614174000")"},
              {R"("123e4567e89b12d3a456426614174000")", R"("123e4567-e89b-12d3-a456-42661417400")",
               R"("g23e4567-e89b-12d3-a456-426614174000")"});
  expect_docs(R"({"type":"string","format":"email"})", {R"("a.b+c@example.com")", R"("x_y@sub.example-1.org")"},
              {R"("a@b")", R"("@example.com")", R"("a..b@example.com")", R"("a@-x.com")", R"("a b@example.com")"});
  expect_docs(R"({"type":"string","format":"ipv4"})", {R"("0.0.0.0")", R"("255.255.255.255")", R"("192.168.1.10")"},
              {R"("256.1.1.1")", R"("01.2.3.4")", R"("1.2.3")", R"("1.2.3.4.5")", R"("1.2.3.-4")"});
  // format and pattern together: both must hold.
  expect_docs(R"({"type":"string","format":"date","pattern":"^2024-"})", {R"("2024-05-01")"}, {R"("2023-05-01")"});
}

TEST(GrammarKeywords, AdditionalPropertiesAsSchema) {
  const char* s = R"({"type":"object","properties":{"id":{"type":"integer"}},"required":["id"],
                      "additionalProperties":{"type":"string"}})";
  expect_docs(s, {R"({"id":1})", R"({"id":1,"x":"a","y":"b"})", R"({"z":"q","id":2})", R"({"i":"s","idx":"t","id":3})"},
              {R"({"id":"1"})", R"({"id":1,"x":2})", R"({"id":1,"id":2})", R"({"x":"a"})", R"({"id":1,"\u0078":"a"})"});
  expect_docs(R"({"type":"object","additionalProperties":{"type":"integer","maximum":9}})", {"{}", R"({"a":1,"b":9})"},
              {R"({"a":10})", R"({"a":"1"})"});
  expect_docs(R"({"type":"object","properties":{"a":{"type":"null"}},"additionalProperties":true})",
              {R"({"a":null,"b":[1,{"c":"d"}]})"}, {R"({"a":1})"});
  // A property name with an escape in it is still a property (written as its escape).
  expect_docs(R"({"type":"object","properties":{"q\"k":{"type":"null"}},"additionalProperties":{"type":"boolean"}})",
              {R"({"q\"k":null,"r":true})"}, {R"({"q\"k":true})", R"({"q\"r":true})"});
}
