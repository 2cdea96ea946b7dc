// grammar/: compile() and GrammarState against python3-jsonschema's verdicts on a
// generated corpus (tests/fixtures/grammar-corpus.json, from tests/scripts/grammar_oracle.py
// gen), and unsupported keywords as errors that name them.
#include <gtest/gtest.h>

#include <fstream>

#include "shardlm/grammar/grammar.h"

namespace g = shardlm::grammar;
using nlohmann::json;

namespace {

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

// Whole document: every prefix accepted, then complete.
bool matches(const std::shared_ptr<const g::Grammar>& gr, const std::string& doc) {
  g::GrammarState st(gr);
  for (unsigned char c : doc)
    if (!st.advance_byte(c)) return false;
  return st.is_complete();
}

}  // namespace

TEST(GrammarSchema, CorpusAgreesWithJsonschema) {
  std::ifstream f(SHARDLM_SOURCE_DIR "/tests/fixtures/grammar-corpus.json");
  ASSERT_TRUE(f) << "missing tests/fixtures/grammar-corpus.json";
  const json corpus = json::parse(f);
  size_t n = 0, valid = 0;
  for (const auto& c : corpus["cases"]) {
    auto gr = g::compile(c["schema"]);
    ASSERT_TRUE(gr) << gr.message();
    for (const auto& d : c["docs"]) {
      const std::string doc = unhex(d["hex"].get<std::string>());
      const bool want = d["valid"].get<bool>();
      EXPECT_EQ(matches(*gr, doc), want) << c["schema"].dump() << "  doc: " << doc;
      ++n;
      valid += want;
    }
  }
  EXPECT_GT(n, 1000u);
  EXPECT_GT(valid, 200u);
  EXPECT_LT(valid, n);
}

TEST(GrammarSchema, RejectedPrefixLeavesStateUnchanged) {
  auto gr = g::compile(json::parse(R"({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]})"));
  ASSERT_TRUE(gr);
  g::GrammarState st(*gr);
  EXPECT_TRUE(st.advance("{\"a\":1"));
  EXPECT_FALSE(st.advance("x"));
  EXPECT_FALSE(st.is_complete());
  EXPECT_TRUE(st.can_accept("2}"));
  EXPECT_FALSE(st.can_accept("\"b\""));
  EXPECT_TRUE(st.advance("}"));
  EXPECT_TRUE(st.is_complete());
  EXPECT_TRUE(st.is_finished());
  EXPECT_FALSE(st.can_accept_byte(' '));
}

TEST(GrammarSchema, NumberMayContinueWhileComplete) {
  auto gr = g::compile(json::parse(R"({"type":"number"})"));
  ASSERT_TRUE(gr);
  g::GrammarState st(*gr);
  EXPECT_FALSE(st.is_complete());
  EXPECT_TRUE(st.advance("-1"));
  EXPECT_TRUE(st.is_complete());
  EXPECT_FALSE(st.is_finished());
  EXPECT_TRUE(st.advance(".5e"));
  EXPECT_FALSE(st.is_complete());
}

TEST(GrammarSchema, PropertiesDefaultToStrict) {
  auto gr = g::compile(json::parse(R"({"type":"object","properties":{"a":{"type":"null"}}})"));
  ASSERT_TRUE(gr);
  EXPECT_TRUE(matches(*gr, R"({"a":null})"));
  EXPECT_TRUE(matches(*gr, R"({})"));
  EXPECT_FALSE(matches(*gr, R"({"b":null})"));
  EXPECT_FALSE(matches(*gr, R"({"a":null,"a":null})"));
}

TEST(GrammarSchema, UnsupportedKeywordsAreNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"type":"string","not":{"const":"a"}})", "unsupported JSON schema keyword 'not' at /"},
      {R"({"type":"object","properties":{"x":{"type":"object","patternProperties":{"a":{}}}}})",
       "unsupported JSON schema keyword 'patternProperties' at /properties/x"},
      {R"({"type":"array","uniqueItems":true})", "unsupported JSON schema keyword 'uniqueItems' at /"},
      {R"({"type":"array","items":[{"type":"string"}]})", "'items' (a list)"},
      {R"({"type":"object","properties":{"a":{}},"additionalProperties":3})", "'additionalProperties' at / is not a schema"},
      {R"({"type":"object","properties":{"a":{}},"required":["b"]})", "names \"b\""},
      {R"({"type":"strin"})", "unknown type 'strin'"},
      {R"({"enum":[]})", "allows no value"},
      {R"({"type":"string","enum":[1,2]})", "allows no value"},
      {R"({"type":"array","minItems":3,"maxItems":2})", "minItems > maxItems"},
      {R"([1,2])", "is not an object"},
      {R"({"anyOf":[{"type":"string"}],"type":"string"})", "next to 'anyOf'"},
      {R"({"oneOf":[{"type":"string"}],"minLength":1})", "next to 'oneOf'"},
      {R"({"type":"string","minLength":3,"maxLength":2})", "minLength > maxLength"},
      {R"({"type":"string","maxLength":-1})", "'maxLength' at / is not a count"},
      {R"({"type":"integer","minLength":1})", "'minLength' at / needs type string, not integer"},
      {R"({"type":"string","minimum":1})", "'minimum' at / needs type integer, not string"},
      {R"({"minimum":1})", "'minimum' at / needs type integer"},
      {R"({"type":"number","maximum":1.5})", "bounds apply to type integer only"},
      {R"({"type":"integer","minimum":3,"maximum":2})", "allow no integer"},
      {R"({"type":"integer","exclusiveMinimum":2,"exclusiveMaximum":3})", "allow no integer"},
      {R"({"type":"integer","minimum":"1"})", "'minimum' at / is not a number"},
      {R"({"type":"string","format":"uri"})", "unsupported format \"uri\" at / (supported: date"},
      {R"({"type":"string","pattern":"a("})", "'pattern' at /: pattern a( does not compile"},
      {R"({"type":"string","pattern":5})", "'pattern' at / is not a string"},
      {R"({"$ref":"http://example.com/s.json"})", "remote $ref 'http://example.com/s.json' at /"},
      {R"({"$ref":"other.json#/a"})", "remote $ref"},
      {R"({"$ref":"#/$defs/missing","$defs":{"a":{}}})", "$ref '#/$defs/missing' at / points nowhere"},
      {R"({"properties":{"a":{"$ref":"#/definitions/b"}},"definitions":{}})",
       "$ref '#/definitions/b' at /properties/a points nowhere"},
      {R"({"$ref":"#anchor"})", "not a JSON pointer"},
      {R"({"$ref":"#/$defs/a","type":"string","$defs":{"a":{}}})", "unsupported 'type' next to '$ref'"},
      {R"({"$ref":"#"})", "refers back to itself"},
      {R"({"$ref":"#/$defs/a","$defs":{"a":{"anyOf":[{"$ref":"#/$defs/b"},{"type":"null"}]},"b":{"$ref":"#/$defs/a"}}})",
       "refers back to itself"},
      {R"({"allOf":[{"type":"string"},{"type":"object"}]})", "only object members merge"},
      {R"({"allOf":[{"properties":{"a":{"type":"string"}}},{"properties":{"a":{"type":"integer"}}}]})",
       "property 'a' differs between members"},
      {R"({"allOf":[{"properties":{"a":{}},"additionalProperties":false},{"properties":{"b":{}}}]})",
       "does not list property 'b'"},
      {R"({"allOf":[{"properties":{"a":{}}},{"minProperties":1}]})", "'minProperties' of the member at /allOf/1"},
      {R"({"allOf":[]})", "'allOf' at / is not a non-empty list"},
  };
  for (const auto& [schema, want] : cases) {
    auto r = g::compile(json::parse(schema));
    ASSERT_FALSE(r) << schema;
    EXPECT_NE(r.message().find(want), std::string::npos) << schema << " -> " << r.message();
  }
}

TEST(GrammarSchema, JsonObjectAcceptsAnyObjectOnly) {
  auto gr = g::compile(json::parse(R"({"type":"json_object"})"));
  ASSERT_TRUE(gr);
  EXPECT_TRUE(matches(*gr, R"({"a":[1,{"b":null}],"c":"\u00e9"})"));
  EXPECT_FALSE(matches(*gr, R"([1])"));
  EXPECT_FALSE(matches(*gr, R"("x")"));
  EXPECT_FALSE(matches(*gr, "{\"a\":\"\xff\"}"));  // not UTF-8
}

TEST(GrammarSchema, NestingAndDigitsAreBounded) {
  auto gr = g::compile(json::parse(R"({"type":"json_object"})"));
  ASSERT_TRUE(gr);
  g::GrammarState st(*gr);
  ASSERT_TRUE(st.advance("{\"a\":"));
  size_t depth = 1;
  while (st.advance("[")) ASSERT_LT(++depth, 100u);
  EXPECT_EQ(depth, g::kMaxDepth);  // the object, then arrays up to the limit
  auto num = g::compile(json::parse(R"({"type":"integer"})"));
  ASSERT_TRUE(num);
  g::GrammarState n(*num);
  EXPECT_TRUE(n.advance(std::string(15, '7')));
  EXPECT_FALSE(n.advance("7"));
  EXPECT_TRUE(n.is_complete());
  EXPECT_FALSE(n.can_accept(".5"));
}
