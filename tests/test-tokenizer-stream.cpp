// Streaming detokenization: multi-byte characters split over byte tokens are held back
// until complete, nothing emitted is ever invalid UTF-8, and the concatenated stream
// equals decode(). Hand-made vocabularies first, then real ones from shared/ if present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "shardlm/tokenizer/tokenizer.h"
#include "shardlm/tokenizer/utf8.h"

namespace fs = std::filesystem;
using namespace shardlm;

namespace {

const std::string kU = "\xE2\x96\x81";  // "▁"
const std::string kFFFD = "\xEF\xBF\xBD";

// SPM vocabulary: <unk> <s> </s>, 256 byte tokens (ids 3..258), then pieces.
struct Spm {
  std::unique_ptr<Tokenizer> tok;
  int32_t id(const std::string& t) const { return tok->token_id(t); }
  static int32_t byte(uint8_t b) { return 3 + b; }
};

Spm make_spm() {
  VocabSpec v;
  v.source = "hand-made spm";
  v.kind = VocabKind::Spm;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {TokenType::Unknown, TokenType::Control, TokenType::Control};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    v.tokens.push_back(buf);
    v.types.push_back(TokenType::Byte);
  }
  const std::vector<std::string> pieces = {kU,          "H",          "e",           "l",           "o",
                                           "w",         "r",          "d",           "t",           "h",
                                           kU + "H",    kU + "He",    kU + "Hel",    kU + "Hell",   kU + "Hello",
                                           kU + "w",    kU + "wo",    kU + "wor",    kU + "worl",   kU + "world",
                                           kU + "t",    kU + "th",    kU + "the",    kU + "ther",   kU + "there",
                                           "\xE6\x97\xA5" /* 日 */};
  for (const auto& p : pieces) {
    v.tokens.push_back(p);
    v.types.push_back(TokenType::Normal);
  }
  v.scores.assign(v.tokens.size(), 0.0f);
  for (size_t i = 259; i < v.tokens.size(); ++i) v.scores[i] = -static_cast<float>(i);
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  v.add_bos = true;
  auto t = Tokenizer::create(std::move(v));
  EXPECT_TRUE(t.is_ok()) << t.message();
  return Spm{std::move(t.value())};
}

// Pushes ids one at a time; checks every chunk; returns the concatenation.
std::string stream_all(const Tokenizer& tok, const std::vector<int32_t>& ids, DecodeOptions o = {}) {
  StreamDecoder sd(tok, o);
  std::string all;
  for (int32_t id : ids) {
    std::string chunk = sd.push(id);
    EXPECT_TRUE(utf8_is_valid(chunk)) << "invalid UTF-8 emitted after id " << id;
    EXPECT_LE(sd.pending_bytes(), 3u);
    all += chunk;
  }
  std::string tail = sd.flush();
  EXPECT_TRUE(utf8_is_valid(tail));
  all += tail;
  EXPECT_EQ(all, tok.decode(ids, o)) << "stream and decode() disagree";
  return all;
}

TEST(StreamDecoder, HoldsBackPartialCharacters) {
  Spm s = make_spm();
  ASSERT_TRUE(s.tok);
  StreamDecoder sd(*s.tok);
  EXPECT_EQ(sd.push(1), "");                        // BOS
  EXPECT_EQ(sd.push(s.id(kU + "Hello")), "Hello");  // the space after BOS is dropped
  // 🦙 = F0 9F A6 99 as four byte tokens.
  EXPECT_EQ(sd.push(Spm::byte(0xF0)), "");
  EXPECT_EQ(sd.pending_bytes(), 1u);
  EXPECT_EQ(sd.push(Spm::byte(0x9F)), "");
  EXPECT_EQ(sd.push(Spm::byte(0xA6)), "");
  EXPECT_EQ(sd.push(Spm::byte(0x99)), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(sd.pending_bytes(), 0u);
  EXPECT_EQ(sd.push(s.id(kU + "world")), " world");
  // 本 = E6 9C AC: a CJK character from byte tokens; 日 is a token of its own.
  EXPECT_EQ(sd.push(s.id("\xE6\x97\xA5")), "\xE6\x97\xA5");
  EXPECT_EQ(sd.push(Spm::byte(0xE6)), "");
  EXPECT_EQ(sd.push(Spm::byte(0x9C)), "");
  EXPECT_EQ(sd.push(Spm::byte(0xAC)), "\xE6\x9C\xAC");
  EXPECT_EQ(sd.push(2), "");  // EOS is not rendered
  EXPECT_EQ(sd.flush(), "");
}

TEST(StreamDecoder, LeadingSpace) {
  Spm s = make_spm();
  ASSERT_TRUE(s.tok);
  const int32_t there = s.id(kU + "there");
  // Generated tokens continuing a prompt keep their space...
  EXPECT_EQ(stream_all(*s.tok, {there}), " there");
  // ...the start of a text (or anything after BOS) does not.
  DecodeOptions start;
  start.sequence_start = true;
  EXPECT_EQ(stream_all(*s.tok, {there}, start), "there");
  EXPECT_EQ(stream_all(*s.tok, {1, there, there}), "there there");
  // A lone "▁" after BOS becomes nothing, and only the first piece is stripped.
  EXPECT_EQ(stream_all(*s.tok, {1, s.id(kU), there}), " there");
  DecodeOptions special;
  special.render_special = true;
  EXPECT_EQ(stream_all(*s.tok, {1, there, 2}, special), "<s>there</s>");
}

TEST(StreamDecoder, InvalidBytesBecomeReplacementCharacters) {
  Spm s = make_spm();
  ASSERT_TRUE(s.tok);
  const int32_t world = s.id(kU + "world");
  // A lead byte interrupted by a complete piece.
  EXPECT_EQ(stream_all(*s.tok, {Spm::byte(0xE6), world}), kFFFD + " world");
  // A lone continuation byte; an overlong lead; a surrogate (ED A0).
  EXPECT_EQ(stream_all(*s.tok, {Spm::byte(0x80)}), kFFFD);
  EXPECT_EQ(stream_all(*s.tok, {Spm::byte(0xC0), Spm::byte(0xAF)}), kFFFD + kFFFD);
  EXPECT_EQ(stream_all(*s.tok, {Spm::byte(0xED), Spm::byte(0xA0), Spm::byte(0x80)}), kFFFD + kFFFD + kFFFD);
  // A truncated character at the end of the stream comes out at flush().
  StreamDecoder sd(*s.tok);
  EXPECT_EQ(sd.push(Spm::byte(0xF0)), "");
  EXPECT_EQ(sd.push(Spm::byte(0x9F)), "");
  EXPECT_EQ(sd.flush(), kFFFD);
  EXPECT_EQ(s.tok->decode({Spm::byte(0xF0), Spm::byte(0x9F)}), kFFFD);
  // Out-of-range ids are ignored.
  EXPECT_EQ(stream_all(*s.tok, {-5, 100000, world}), " world");
}

TEST(StreamDecoder, RandomSequencesMatchDecode) {
  Spm s = make_spm();
  ASSERT_TRUE(s.tok);
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> any(0, s.tok->n_vocab() - 1);
  std::uniform_int_distribution<int> coin(0, 3);
  const std::vector<uint8_t> leads = {0xC3, 0xE6, 0xF0, 0xED, 0xF4, 0xE0};
  for (int round = 0; round < 500; ++round) {
    std::vector<int32_t> ids;
    const int n = 1 + round % 40;
    for (int i = 0; i < n; ++i) {
      // Bias towards byte tokens that start or continue multi-byte characters.
      const int c = coin(rng);
      if (c == 0)
        ids.push_back(Spm::byte(leads[rng() % leads.size()]));
      else if (c == 1)
        ids.push_back(Spm::byte(static_cast<uint8_t>(0x80 + rng() % 64)));
      else
        ids.push_back(any(rng));
    }
    DecodeOptions o;
    o.render_special = round % 2 == 0;
    o.sequence_start = round % 3 == 0;
    const std::string out = stream_all(*s.tok, ids, o);
    EXPECT_TRUE(utf8_is_valid(out));
  }
}

TEST(StreamDecoder, EncodeOfHandMadeSpm) {
  Spm s = make_spm();
  ASSERT_TRUE(s.tok);
  EXPECT_EQ(s.tok->encode("Hello world", true, false),
            (std::vector<int32_t>{1, s.id(kU + "Hello"), s.id(kU + "world")}));
  // "i" has no token: byte fallback <0x69>.
  EXPECT_EQ(s.tok->encode("Hi", false, false), (std::vector<int32_t>{s.id(kU + "H"), Spm::byte('i')}));
  // "<s>" in text is text unless parse_special.
  EXPECT_EQ(s.tok->encode("<s>", false, true), (std::vector<int32_t>{1}));
  const auto as_text = s.tok->encode("<s>", false, false);
  EXPECT_EQ(as_text.size(), 4u);  // ▁ < s >
  EXPECT_EQ(s.tok->decode(as_text, {false, true}), "<s>");
  EXPECT_EQ(s.tok->encode("", true, false), (std::vector<int32_t>{1}));
  EXPECT_TRUE(s.tok->encode("", false, false).empty());
}

// ---- real vocabularies ----

fs::path models_dir() {
  if (const char* e = std::getenv("SHARDLM_SHARED")) return fs::path(e) / "models";
  return fs::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "models";
}

std::string param_name(const ::testing::TestParamInfo<std::string>& p) {
  std::string s = p.param;
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

class RealVocabStream : public ::testing::TestWithParam<std::string> {};

TEST_P(RealVocabStream, StreamEqualsDecodeAndText) {
  const fs::path p = models_dir() / "vocab" / ("ggml-vocab-" + GetParam() + ".gguf");
  if (!fs::exists(p)) GTEST_SKIP() << "missing " << p << " (set SHARDLM_SHARED to shared/)";
  auto t = load_tokenizer(p.string());
  ASSERT_TRUE(t.is_ok()) << t.message();
  const Tokenizer& tok = *t.value();
  const std::vector<std::string> texts = {
      "Hello \xF0\x9F\xA6\x99 world",                                    // emoji
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE6\x96\x87",  // 日本語の文
      "\xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD emoji+modifier \xE2\x9C\x85",
      "\xC3\xBC\x62\x65r caf\xC3\xA9 \xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xE1\x9E\x80\xE1\x9E\xB6",
      "\xF0\x90\x8D\x88 rare script, \xF0\x9F\xA7\xAC DNA"};
  for (const auto& text : texts) {
    const auto ids = tok.encode(text, true, false);
    EXPECT_EQ(stream_all(tok, ids), text) << GetParam();
  }
}

INSTANTIATE_TEST_SUITE_P(Vocab, RealVocabStream, ::testing::Values("llama-spm", "gpt-2", "deepseek-llm", "falcon"),
                         param_name);

TEST(RealVocabStream, TinyStoriesHf) {
  const fs::path dir = models_dir() / "TinyStories-656K";
  if (!fs::exists(dir / "tokenizer.json")) GTEST_SKIP() << "missing " << dir;
  auto t = load_tokenizer(dir.string());
  ASSERT_TRUE(t.is_ok()) << t.message();
  const std::string text = "Lily saw a big dog. \"Wow!\" she said.\nThe end.";
  const auto ids = t.value()->encode(text, true, false);
  EXPECT_EQ(stream_all(*t.value(), ids), text);
  // Its vocabulary has no byte tokens: unknown characters decode to nothing, never to bad bytes.
  const auto unk = t.value()->encode("dog \xF0\x9F\x90\x89 cat", true, false);
  EXPECT_NE(std::find(unk.begin(), unk.end(), t.value()->unk_id()), unk.end());
  const std::string out = stream_all(*t.value(), unk);
  EXPECT_EQ(out.find("\xEF\xBF\xBD"), std::string::npos) << out;
  EXPECT_EQ(out.substr(0, 3), "dog");
  EXPECT_EQ(out.substr(out.size() - 3), "cat");
}

}  // namespace
