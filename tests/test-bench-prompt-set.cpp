// Prompt sets: same seed → same bytes; lengths follow the configuration.
#include <gtest/gtest.h>

#include <set>

#include "shardlm/bench/prompt-set.h"

using namespace shardlm::bench;

namespace {
int words(const std::string& s) {
  int n = 0;
  bool in = false;
  for (char c : s) {
    if (c != ' ' && !in) ++n;
    in = c != ' ';
  }
  return n;
}
}  // namespace

TEST(BenchPromptSet, SameSeedSameBytes) {
  PromptSetConfig c;
  c.kind = PromptKind::mixed;
  c.count = 12;
  const auto a = make_prompt_set(c), b = make_prompt_set(c);
  ASSERT_EQ(a.size(), 12u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].text, b[i].text);
  c.seed = 43;
  const auto d = make_prompt_set(c);
  EXPECT_NE(a[0].text, d[0].text);
  std::set<std::string> distinct;
  for (const auto& p : a) distinct.insert(p.text);
  EXPECT_EQ(distinct.size(), a.size());
}

TEST(BenchPromptSet, FixedTextForAFixedSeed) {
  // Pins the generator: a change here changes every identity hash; update on purpose only.
  const std::string t = make_text(1, 6);
  EXPECT_EQ(words(t), 6);
  EXPECT_EQ(t, make_text(1, 6));
  EXPECT_NE(t, make_text(2, 6));
  EXPECT_EQ(derive_seed(42, "a"), derive_seed(42, "a"));
  EXPECT_NE(derive_seed(42, "a"), derive_seed(42, "b"));
  // splitmix64 reference: state 0 → first output 0xe220a8397b1dcdaf.
  uint64_t st = 0;
  EXPECT_EQ(splitmix64(st), 0xe220a8397b1dcdafull);
}

TEST(BenchPromptSet, LengthsFollowTheConfiguration) {
  PromptSetConfig c;
  c.kind = PromptKind::long_;
  c.count = 20;
  c.tokens_per_word = 2.0;  // 500..1000 tokens → 250..500 words
  for (const auto& p : make_prompt_set(c)) {
    EXPECT_GE(p.target_tokens, 500);
    EXPECT_LE(p.target_tokens, 1000);
    EXPECT_NEAR(words(p.text), p.target_tokens / 2.0, 1.0);
  }
  c.kind = PromptKind::short_;
  for (const auto& p : make_prompt_set(c)) {
    EXPECT_GE(p.target_tokens, 16);
    EXPECT_LE(p.target_tokens, 64);
  }
}

TEST(BenchPromptSet, SharedPrefixAndRepetitive) {
  PromptSetConfig c;
  c.kind = PromptKind::shared_prefix;
  c.count = 4;
  c.prefix_tokens = 100;
  c.tokens_per_word = 1.0;
  const auto s = make_prompt_set(c);
  const std::string prefix = s[0].text.substr(0, s[0].text.find(" Story 1."));
  EXPECT_EQ(words(prefix), 100);
  for (const auto& p : s) EXPECT_EQ(p.text.compare(0, prefix.size(), prefix), 0);
  EXPECT_NE(s[0].text, s[1].text);
  c.kind = PromptKind::repetitive;
  const auto r = make_prompt_set(c);
  // The text is one phrase repeated: its first sentence occurs again later.
  const std::string first = r[0].text.substr(0, r[0].text.find('.') + 1);
  EXPECT_NE(r[0].text.find(first, first.size()), std::string::npos);
  EXPECT_TRUE(parse_prompt_kind("shared-prefix").is_ok());
  EXPECT_FALSE(parse_prompt_kind("medium").is_ok());
}
