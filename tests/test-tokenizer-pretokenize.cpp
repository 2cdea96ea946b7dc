// Pre-tokenizer regex splits, checked by hand against the patterns' semantics.
// The Llama 3 and Qwen2 vocabularies are too large to ship, so their splits are
// tested here directly.
#include <gtest/gtest.h>

#include "shardlm/tokenizer/pre-tokenizer.h"

using namespace shardlm;

namespace {

using Pieces = std::vector<std::string>;

Pieces split(const std::string& pre, const std::string& text) {
  bool known = false;
  auto rx = pre_tokenizer_regexes(pre, &known);
  EXPECT_TRUE(known) << pre;
  auto p = PreTokenizer::create(rx);
  EXPECT_TRUE(p.is_ok()) << p.message();
  if (!p) return {};
  Pieces out;
  std::string joined;
  for (auto v : p.value()->split(text)) {
    out.emplace_back(v);
    joined += v;
  }
  EXPECT_EQ(joined, text) << "pieces must cover the text";
  return out;
}

TEST(PreTokenizer, Llama3) {
  EXPECT_EQ(split("llama3", "Hello world's 12345 test!!  \n\nfoo"),
            (Pieces{"Hello", " world", "'s", " ", "123", "45", " test", "!!", "  \n\n", "foo"}));
  EXPECT_EQ(split("llama3", "I'M here, you'Re"), (Pieces{"I", "'M", " here", ",", " you", "'Re"}));
  EXPECT_EQ(split("llama3", "   leading"), (Pieces{"  ", " leading"}));
  EXPECT_EQ(split("llama3", "trailing   "), (Pieces{"trailing", "   "}));
  EXPECT_EQ(split("llama3", "x\r\ny"), (Pieces{"x", "\r\n", "y"}));
  EXPECT_EQ(split("llama3", "ok.\n\nNext"), (Pieces{"ok", ".\n\n", "Next"}));
  EXPECT_EQ(split("llama3", "$100 (hello)"), (Pieces{"$", "100", " (", "hello", ")"}));
  EXPECT_EQ(split("llama3", "über café 日本語テキスト"), (Pieces{"über", " café", " 日本語テキスト"}));
  EXPECT_EQ(split("llama3", "\xF0\x9F\xA6\x99\xF0\x9F\xA6\x99 x"), (Pieces{"\xF0\x9F\xA6\x99\xF0\x9F\xA6\x99", " x"}));
  EXPECT_EQ(split("llama3", "1234567"), (Pieces{"123", "456", "7"}));
  EXPECT_EQ(split("llama-bpe", "a\tb"), (Pieces{"a", "\tb"}));
}

TEST(PreTokenizer, Qwen2) {
  EXPECT_EQ(split("qwen2", "Hello world's 12345 test!!  \n\nfoo"),
            (Pieces{"Hello", " world", "'s", " ", "1", "2", "3", "4", "5", " test", "!!", "  \n\n", "foo"}));
  EXPECT_EQ(split("qwen2", "I'll go"), (Pieces{"I", "'ll", " go"}));
  EXPECT_EQ(split("qwen2", "你好，世界"), (Pieces{"你好", "，世界"}));
  EXPECT_EQ(split("qwen2", "x = 42;\n"), (Pieces{"x", " =", " ", "4", "2", ";\n"}));
}

TEST(PreTokenizer, Gpt2) {
  // No plain \s+ alternative: a lone "\n" before a word is the text between matches.
  EXPECT_EQ(split("gpt-2", "Hello world's 12345 test!!  \n\nfoo"),
            (Pieces{"Hello", " world", "'s", " 12345", " test", "!!", "  \n", "\n", "foo"}));
  EXPECT_EQ(split("gpt-2", "   leading"), (Pieces{"  ", " leading"}));
  EXPECT_EQ(split("gpt-2", "I'M"), (Pieces{"I", "'", "M"}));  // case-sensitive contractions
}

TEST(PreTokenizer, SequentialSplits) {
  // starcoder: digits isolated first, then GPT-2 on each piece.
  EXPECT_EQ(split("starcoder", "x 123"), (Pieces{"x", " ", "1", "2", "3"}));
  // deepseek-coder: newlines, letters, punctuation, CJK, digits.
  EXPECT_EQ(split("deepseek-coder", "ab, cd\n12"), (Pieces{"ab", ",", " cd", "\n", "1", "2"}));
  // deepseek-llm: "\s+$" takes trailing whitespace of a piece.
  EXPECT_EQ(split("deepseek-llm", "Hi there  "), (Pieces{"Hi", " there", "  "}));
}

TEST(PreTokenizer, NamesAndErrors) {
  bool known = true;
  auto rx = pre_tokenizer_regexes("no-such-pre-tokenizer", &known);
  EXPECT_FALSE(known);
  EXPECT_FALSE(rx.empty());  // the default is used
  auto bad = PreTokenizer::create({"(unclosed"});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.message().find("(unclosed"), std::string::npos);
  // Invalid UTF-8 does not break matching; bytes stay covered.
  auto p = PreTokenizer::create(pre_tokenizer_regexes("llama3"));
  ASSERT_TRUE(p.is_ok());
  std::string joined;
  for (auto v : p.value()->split("ab\xFF\xFE cd\xC3")) joined += v;
  EXPECT_EQ(joined, "ab\xFF\xFE cd\xC3");
}

TEST(PreTokenizer, LongWhitespaceRun) {
  auto p = PreTokenizer::create(pre_tokenizer_regexes("llama3"));
  ASSERT_TRUE(p.is_ok());
  std::string text(200000, ' ');
  text += "x";
  auto pieces = p.value()->split(text);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].size(), 199999u);
  EXPECT_EQ(pieces[1], " x");
}

}  // namespace
