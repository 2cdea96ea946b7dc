// grammar/ token masks on real vocabularies (stories260K's 512 tokens, llama2's 32,000):
// the trie walk equals a per-token check, and seeded random walks that sample only
// masked tokens always end in a document that python3-jsonschema validates
// (tests/scripts/grammar_oracle.py check).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <unistd.h>

#include "shardlm/grammar/token-mask.h"
#include "shardlm/tokenizer/tokenizer.h"

namespace g = shardlm::grammar;
using nlohmann::json;

namespace {

std::string shared_dir() {
  const char* e = std::getenv("SHARDLM_SHARED");
  return e ? e : SHARDLM_SOURCE_DIR "/../shared";
}

std::unique_ptr<shardlm::Tokenizer> load(const std::string& rel) {
  const std::string path = shared_dir() + rel;
  if (!std::filesystem::exists(path)) return nullptr;
  auto t = shardlm::load_tokenizer(path);
  return t ? std::move(t.value()) : nullptr;
}

const char* kSchemas[] = {
    R"({"type":"json_object"})",
    R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"},"maxItems":3}},"required":["name","age"]})",
    R"({"type":"object","properties":{"weather":{"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["celsius","fahrenheit"]},"days":{"type":"number"}},"required":["city","unit"]},"ok":{"type":"boolean"},"note":{"type":["string","null"]}},"required":["weather","ok"]})",
    R"({"anyOf":[{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":4},{"type":"object","properties":{"k":{"const":"v"}},"required":["k"]},{"type":"null"}]})",
    R"({"type":"string"})",
    // The keywords of real tool schemas: integer bounds, lengths, pattern, additionalProperties.
    R"({"type":"object","properties":{"n":{"type":"integer","minimum":-40,"maximum":2500},"s":{"type":"string","minLength":3,"maxLength":6},"p":{"type":"string","pattern":"^[a-z]{1,3}-[0-9]{1,4}$"},"m":{"type":"object","additionalProperties":{"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":10}}},"required":["n","s","p"]})",
    // Formats (each ends within its pattern).
    R"({"type":"object","properties":{"d":{"type":"string","format":"date"},"u":{"type":"string","format":"uuid"},"ip":{"type":"string","format":"ipv4"},"e":{"type":"string","format":"email"},"t":{"type":"string","format":"date-time"}},"required":["d","u","ip","e","t"]})",
    // $ref recursion through $defs, allOf around one $ref (pydantic), oneOf.
    R"({"$defs":{"node":{"type":"object","properties":{"v":{"oneOf":[{"type":"integer","minimum":0,"maximum":9},{"type":"string","maxLength":3}]},"kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v"]}},"allOf":[{"$ref":"#/$defs/node"}]})",
};

std::vector<int32_t> allowed_ids(const g::TokenMask& m, int32_t n) {
  std::vector<int32_t> out;
  for (int32_t id = 0; id < n; ++id) if (g::mask_allows(m, id)) out.push_back(id);
  return out;
}

// One walk: uniform over the mask; after `patience` tokens prefer an end token, then
// tokens that close something, so every walk ends. Returns false if it never ends.
bool random_walk(g::MaskComputer& mc, const std::shared_ptr<const g::Grammar>& gr, std::mt19937& rng,
                 std::string& doc, size_t patience) {
  const auto& trie = mc.trie();
  g::GrammarState st(gr);
  doc.clear();
  for (size_t step = 0; step < 4000; ++step) {
    const auto ids = allowed_ids(mc.mask(st), trie.n_vocab());
    if (ids.empty()) return false;
    std::vector<int32_t> pick = ids;
    if (step >= patience) {
      std::vector<int32_t> ends, closers;
      for (int32_t id : ids) {
        if (std::binary_search(trie.eog().begin(), trie.eog().end(), id)) ends.push_back(id);
        else if (trie.piece(id).find_first_of("\"]}") != std::string::npos) closers.push_back(id);
      }
      if (!ends.empty()) pick = ends;
      else if (!closers.empty() && rng() % 4 != 0) pick = closers;
    }
    const int32_t id = pick[rng() % pick.size()];
    if (std::binary_search(trie.eog().begin(), trie.eog().end(), id)) return st.is_complete();
    if (!mc.accept(st, id)) return false;
    doc += trie.piece(id);
  }
  return false;
}

std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) { out.push_back(d[c >> 4]); out.push_back(d[c & 15]); }
  return out;
}

void walks_validate(const shardlm::Tokenizer& tok, const char* name, int walks_per_schema) {
  auto trie = g::TokenTrie::build(tok);
  const std::string out_path = (std::filesystem::temp_directory_path() /
      ("shardlm-grammar-walks-" + std::string(name) + "-" + std::to_string(::getpid()) + ".jsonl")).string();
  std::ofstream out(out_path);
  std::mt19937 rng(1600);
  int n = 0;
  for (const char* s : kSchemas) {
    const json schema = json::parse(s);
    auto gr = g::compile(schema);
    ASSERT_TRUE(gr) << gr.message();
    g::MaskComputer mc(trie);
    for (int w = 0; w < walks_per_schema; ++w) {
      std::string doc;
      ASSERT_TRUE(random_walk(mc, *gr, rng, doc, 40 + 20 * (w % 4))) << s << " walk " << w << ": " << doc;
      out << json{{"schema", schema}, {"hex", hex(doc)}}.dump() << "\n";
      ++n;
    }
  }
  out.close();
  const char* py = std::getenv("SHARDLM_PYTHON");
  const std::string cmd = std::string(py ? py : "/usr/bin/python3") + " " SHARDLM_SOURCE_DIR
      "/tests/scripts/grammar_oracle.py check " + out_path;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << n << " walks in " << out_path;
  std::filesystem::remove(out_path);
}

// mask() (cached, string shortcut) = compute() (full trie walk) = accept() per token.
void masks_equal_per_token(const shardlm::Tokenizer& tok, int steps) {
  auto trie = g::TokenTrie::build(tok);
  std::mt19937 rng(7);
  for (const char* s : kSchemas) {
    auto gr = g::compile(json::parse(s));
    ASSERT_TRUE(gr);
    g::MaskComputer mc(trie);
    g::GrammarState st(*gr);
    for (int step = 0; step < steps; ++step) {
      g::TokenMask m;
      mc.compute(st, m);
      ASSERT_EQ(mc.mask(st), m) << s << " step " << step << (st.in_plain_string() ? " (in a string)" : "");
      std::vector<int32_t> want;
      for (int32_t id = 0; id < tok.n_vocab(); ++id) {
        g::GrammarState copy = st;
        if (mc.accept(copy, id)) want.push_back(id);
      }
      const auto got = allowed_ids(m, trie->n_vocab());
      ASSERT_EQ(got, want) << s << " step " << step;
      if (got.empty()) break;
      const int32_t id = got[rng() % got.size()];
      if (tok.is_eog(id)) break;
      ASSERT_TRUE(mc.accept(st, id));
    }
  }
}

}  // namespace

TEST(GrammarMask, TrieWalkEqualsPerTokenCheckStories) {
  auto tok = load("/models/stories260K/tok512.bin");
  if (!tok) GTEST_SKIP() << "stories260K tokenizer absent under " << shared_dir();
  masks_equal_per_token(*tok, 60);
}

TEST(GrammarMask, TrieWalkEqualsPerTokenCheckLlama2) {
  auto tok = load("/models/llama2-tokenizer/tokenizer.bin");
  if (!tok) GTEST_SKIP() << "llama2 tokenizer absent under " << shared_dir();
  masks_equal_per_token(*tok, 16);
}

// The in-string shortcut under maxLength (the precomputed mask less the tokens that need
// more characters than are left) equals the trie walk at every length, on 32,000 tokens.
TEST(GrammarMask, BoundedStringShortcutEqualsTrieWalk) {
  auto tok = load("/models/llama2-tokenizer/tokenizer.bin");
  if (!tok) GTEST_SKIP() << "llama2 tokenizer absent under " << shared_dir();
  auto trie = g::TokenTrie::build(*tok);
  for (const char* s : {R"({"type":"string","maxLength":5})", R"({"type":"string","minLength":2,"maxLength":3})"}) {
    auto gr = g::compile(json::parse(s));
    ASSERT_TRUE(gr);
    g::MaskComputer mc(trie);
    g::GrammarState st(*gr);
    ASSERT_TRUE(st.advance("\""));
    for (const char* more : {"", "a", "\\u00e9", "\xc3\xa9", "b", "c", "d"}) {
      if (!st.advance(more)) break;
      uint32_t budget = 0;
      ASSERT_TRUE(st.in_string_body(budget)) << s << " after " << more;
      g::TokenMask m;
      mc.compute(st, m);
      ASSERT_EQ(mc.mask(st), m) << s << " budget " << budget;
      EXPECT_GT(allowed_ids(m, trie->n_vocab()).size(), 0u);
    }
  }
}

TEST(GrammarMask, ControlTokensNeverAndEndOnlyWhenComplete) {
  auto tok = load("/models/stories260K/tok512.bin");
  if (!tok) GTEST_SKIP() << "stories260K tokenizer absent under " << shared_dir();
  auto trie = g::TokenTrie::build(*tok);
  auto gr = g::compile(json::parse(R"({"type":"integer"})"));
  ASSERT_TRUE(gr);
  g::MaskComputer mc(trie);
  g::GrammarState st(*gr);
  ASSERT_FALSE(tok->eos_ids().empty());
  for (int32_t e : tok->eos_ids()) EXPECT_FALSE(g::mask_allows(mc.mask(st), e));
  if (tok->bos_id() >= 0) {
    EXPECT_FALSE(g::mask_allows(mc.mask(st), tok->bos_id()));
  }
  ASSERT_TRUE(st.advance("4"));
  for (int32_t e : tok->eos_ids()) EXPECT_TRUE(g::mask_allows(mc.mask(st), e));
}

TEST(GrammarMask, RandomWalksValidateStories) {
  auto tok = load("/models/stories260K/tok512.bin");
  if (!tok) GTEST_SKIP() << "stories260K tokenizer absent under " << shared_dir();
  walks_validate(*tok, "stories", 40);
}

TEST(GrammarMask, RandomWalksValidateLlama2) {
  auto tok = load("/models/llama2-tokenizer/tokenizer.bin");
  if (!tok) GTEST_SKIP() << "llama2 tokenizer absent under " << shared_dir();
  ASSERT_EQ(tok->n_vocab(), 32000);
  walks_validate(*tok, "llama2", 12);
}
