// Tokenizer test vectors: llama.cpp's ggml-vocab-*.gguf.inp/.out pairs (encode without
// BOS, parse_special off), the stories260K / TinyStories / Llama 2 cases from
// shared/models/MANIFEST.md, and decode(encode(x)) round trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "shardlm/model/gguf.h"
#include "shardlm/tokenizer/tokenizer.h"
#include "shardlm/tokenizer/utf8.h"

namespace fs = std::filesystem;
using namespace shardlm;

namespace {

fs::path shared_dir() {
  if (const char* e = std::getenv("SHARDLM_SHARED")) return e;
  return fs::path(__FILE__).parent_path().parent_path().parent_path() / "shared";
}

fs::path models_dir() { return shared_dir() / "models"; }

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// A string with control characters and non-ASCII escaped, for failure messages.
std::string show(const std::string& s) {
  std::string r = "\"";
  for (unsigned char c : s) {
    if (c == '\n')
      r += "\\n";
    else if (c == '\t')
      r += "\\t";
    else if (c == '"')
      r += "\\\"";
    else if (c < 0x20)
      r += fmt::format("\\x{:02x}", c);
    else
      r += static_cast<char>(c);
  }
  return r + "\"";
}

std::string show(const std::vector<int32_t>& v) {
  std::string r = "[";
  for (size_t i = 0; i < v.size(); ++i) r += (i ? " " : "") + std::to_string(v[i]);
  return r + "]";
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

// llama.cpp's format: strings separated by "\n__ggml_vocab_test__\n"; one line of ids each.
std::vector<Case> read_cases(const fs::path& inp, const fs::path& out) {
  const std::string raw = read_file(inp);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<Case> cases;
  size_t pos = 0;
  while (pos < raw.size()) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) break;
    cases.push_back({raw.substr(pos, next - pos), {}});
    pos = next + sep.size();
  }
  std::istringstream os(read_file(out));
  std::string line;
  for (auto& c : cases) {
    if (!std::getline(os, line)) break;
    std::istringstream ls(line);
    int32_t id;
    while (ls >> id) c.ids.push_back(id);
  }
  return cases;
}

#define REQUIRE_FILE(p)                                                                          \
  do {                                                                                           \
    if (!fs::exists(p)) GTEST_SKIP() << "missing " << (p) << " (set SHARDLM_SHARED to shared/)"; \
  } while (0)

std::unique_ptr<Tokenizer> must_load(const fs::path& p) {
  auto t = load_tokenizer(p.string());
  EXPECT_TRUE(t.is_ok()) << t.message();
  return t ? std::move(t.value()) : nullptr;
}

// Runs every case; prints each failure; returns the number of failures.
int run_cases(const Tokenizer& tok, const std::vector<Case>& cases, const std::string& name) {
  int fails = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto got = tok.encode(cases[i].text, false, false);
    if (got != cases[i].ids) {
      ++fails;
      ADD_FAILURE() << name << " case " << i << " " << show(cases[i].text) << "\n  expected " << show(cases[i].ids)
                    << "\n  got      " << show(got);
    }
  }
  std::printf("[ vectors  ] %-16s %zu passed, %d failed (of %zu)\n", name.c_str(), cases.size() - fails, fails,
              cases.size());
  return fails;
}

// decode(encode(x)) == x; SPM vocabularies encode with BOS so the prefixed space is dropped.
void check_round_trip(const Tokenizer& tok, const std::string& text, const std::string& name) {
  const auto ids = tok.encode(text, true, false);
  EXPECT_EQ(tok.decode(ids), text) << name << ": round trip of " << show(text) << " via " << show(ids);
  DecodeOptions start;
  start.sequence_start = true;
  const auto ids_nobos = tok.encode(text, false, false);
  EXPECT_EQ(tok.decode(ids_nobos, start), text) << name << ": round trip (no BOS) of " << show(text);
}

std::string param_name(const ::testing::TestParamInfo<std::string>& p) {
  std::string s = p.param;
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

class VocabVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabVectors, EncodeMatchesAndRoundTrips) {
  const std::string name = GetParam();
  const fs::path gguf = models_dir() / "vocab" / ("ggml-vocab-" + name + ".gguf");
  REQUIRE_FILE(gguf);
  auto tok = must_load(gguf);
  ASSERT_TRUE(tok);
  const fs::path inp = gguf.string() + ".inp", out = gguf.string() + ".out";
  if (!fs::exists(inp)) {
    std::printf("[ vectors  ] %-16s no test vectors upstream; round trips only\n", name.c_str());
  } else {
    const auto cases = read_cases(inp, out);
    ASSERT_GE(cases.size(), 40u) << "could not read " << inp;
    EXPECT_EQ(run_cases(*tok, cases, name), 0);
    for (const auto& c : cases) check_round_trip(*tok, c.text, name);
  }
  for (const char* s : {"Hello world", " leading space", "tabs\tand\nnewlines\n\n", "ünïcödé 日本語 🦙🚀",
                        "code: for (int i = 0; i < n; ++i) { x += y; }", "   ", "a  b   c"})
    check_round_trip(*tok, s, name);
}

INSTANTIATE_TEST_SUITE_P(Vocab, VocabVectors,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "gpt-neox", "mpt", "falcon", "refact",
                                           "starcoder", "deepseek-coder", "deepseek-llm"),
                         param_name);

TEST(TokenizerFiles, Stories260KGguf) {
  const fs::path p = models_dir() / "stories260K" / "stories260K.gguf";
  REQUIRE_FILE(p);
  auto tok = must_load(p);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->n_vocab(), 512);
  EXPECT_TRUE(tok->add_bos_default());
  EXPECT_EQ(tok->encode("Once upon a time", true, false), (std::vector<int32_t>{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok->decode({1, 403, 407, 261, 378}), "Once upon a time");
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
}

TEST(TokenizerFiles, Stories260KLlama2c) {
  const fs::path p = models_dir() / "stories260K" / "tok512.bin";
  REQUIRE_FILE(p);
  auto tok = must_load(p);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->n_vocab(), 512);
  EXPECT_EQ(tok->encode("Once upon a time", true, false), (std::vector<int32_t>{1, 403, 407, 261, 378}));
  // The .bin and the GGUF are the same vocabulary: same ids for arbitrary text.
  const fs::path g = models_dir() / "stories260K" / "stories260K.gguf";
  if (fs::exists(g)) {
    auto tg = must_load(g);
    ASSERT_TRUE(tg);
    for (const char* s : {"Lily's mom said, \"Don't worry!\"", "The cat sat.\nThe dog ran 123 km.", "Ω ≈ ç √ ∫ 🙂"})
      EXPECT_EQ(tok->encode(s, true, false), tg->encode(s, true, false)) << s;
  }
}

TEST(TokenizerFiles, Llama2TokenizerBin) {
  const fs::path p = models_dir() / "llama2-tokenizer" / "tokenizer.bin";
  REQUIRE_FILE(p);
  auto tok = must_load(p);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->n_vocab(), 32000);
  EXPECT_EQ(tok->encode("Hello world, this is a test.", false, false),
            (std::vector<int32_t>{15043, 3186, 29892, 445, 338, 263, 1243, 29889}));
  // Same vocabulary as ggml-vocab-llama-spm.gguf: its vectors must pass too.
  const fs::path inp = models_dir() / "vocab" / "ggml-vocab-llama-spm.gguf.inp";
  if (fs::exists(inp)) {
    const auto cases = read_cases(inp, models_dir() / "vocab" / "ggml-vocab-llama-spm.gguf.out");
    EXPECT_EQ(run_cases(*tok, cases, "llama2.c-bin"), 0);
  }
}

TEST(TokenizerFiles, Llama2SentencePieceModel) {
  const fs::path p = models_dir() / "llama2-tokenizer" / "tokenizer.model";
  REQUIRE_FILE(p);
  auto tok = must_load(p);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->n_vocab(), 32000);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->encode("Hello world, this is a test.", false, false),
            (std::vector<int32_t>{15043, 3186, 29892, 445, 338, 263, 1243, 29889}));
  const fs::path inp = models_dir() / "vocab" / "ggml-vocab-llama-spm.gguf.inp";
  if (fs::exists(inp)) {
    const auto cases = read_cases(inp, models_dir() / "vocab" / "ggml-vocab-llama-spm.gguf.out");
    EXPECT_EQ(run_cases(*tok, cases, "llama2 .model"), 0);
    for (const auto& c : cases) check_round_trip(*tok, c.text, "llama2 .model");
  }
}

TEST(TokenizerFiles, TinyStoriesHf) {
  const fs::path dir = models_dir() / "TinyStories-656K";
  REQUIRE_FILE(dir / "tokenizer.json");
  for (const fs::path& p : {dir, dir / "tokenizer.json"}) {
    auto tok = must_load(p);
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->n_vocab(), 2048);
    EXPECT_EQ(tok->bos_id(), 1);
    EXPECT_EQ(tok->eos_id(), 2);
    EXPECT_TRUE(tok->add_bos_default());
    EXPECT_FALSE(tok->add_eos_default());
    EXPECT_EQ(tok->encode("Once upon a time", true, false), (std::vector<int32_t>{1, 80, 147, 201, 282, 57}));
    EXPECT_EQ(tok->decode({1, 80, 147, 201, 282, 57}), "Once upon a time");
    EXPECT_TRUE(tok->is_eog(2));
    // Specials: text only with parse_special.
    const auto sp = tok->encode("<|end_story|>", false, true);
    EXPECT_EQ(sp, (std::vector<int32_t>{2}));
    EXPECT_NE(tok->encode("<|end_story|>", false, false), (std::vector<int32_t>{2}));
    check_round_trip(*tok, "Once upon a time, Lily said: \"Hi!\" 123\n\nThe end.", "TinyStories");
    // byte_fallback is on but this vocabulary has no <0xXX> tokens: characters outside
    // it become UNK, a run of them one UNK (fuse_unk).
    const auto unk = tok->encode("x \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E y", false, false);
    EXPECT_EQ(std::count(unk.begin(), unk.end(), tok->unk_id()), 1) << show(unk);
  }

  // The reference greedy story: its ids decode to its text.
  const std::string ref = read_file(dir / "expected-greedy-once-upon-a-time.txt");
  const size_t a = ref.find("\nids [");
  ASSERT_NE(a, std::string::npos);
  const size_t b = ref.find("]\n", a);
  std::vector<int32_t> ids;
  {
    std::string list = ref.substr(a + 6, b - a - 6);
    for (char& c : list)
      if (c == ',') c = ' ';
    std::istringstream is(list);
    int32_t id;
    while (is >> id) ids.push_back(id);
  }
  std::string text = ref.substr(b + 2);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  auto tok = must_load(dir);
  ASSERT_TRUE(tok);
  // The story ends with "<|end_story|>" spelled by text tokens, then the EOS token.
  ASSERT_EQ(ids.back(), 2);
  EXPECT_EQ(tok->decode(ids), text);
  DecodeOptions o;
  o.render_special = true;
  EXPECT_EQ(tok->decode(ids, o), "<|start_story|>" + text + "<|end_story|>");
}

TEST(TokenizerFiles, ErrorsNameTheFile) {
  const fs::path tmp = fs::temp_directory_path() / "shardlm-test-tokenizer-bad.bin";
  {
    std::ofstream f(tmp, std::ios::binary);
    const int32_t max_len = 8;
    f.write(reinterpret_cast<const char*>(&max_len), 4);
    const float score = 0;
    const int32_t len = 1000;  // longer than max_token_length and the file
    f.write(reinterpret_cast<const char*>(&score), 4);
    f.write(reinterpret_cast<const char*>(&len), 4);
  }
  auto t = load_tokenizer(tmp.string());
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.message().find(tmp.string()), std::string::npos) << t.message();
  fs::remove(tmp);

  const fs::path js = fs::temp_directory_path() / "shardlm-test-tokenizer-bad.json";
  {
    std::ofstream f(js);
    f << R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}})";
  }
  auto t2 = load_tokenizer(js.string());
  ASSERT_FALSE(t2.is_ok());
  EXPECT_NE(t2.message().find(js.string()), std::string::npos) << t2.message();
  fs::remove(js);

  auto t3 = load_tokenizer("/nonexistent/tokenizer.json");
  ASSERT_FALSE(t3.is_ok());
  EXPECT_NE(t3.message().find("/nonexistent/tokenizer.json"), std::string::npos);
}

TEST(TokenizerFiles, LongTextIsFast) {
  const fs::path p = models_dir() / "vocab" / "ggml-vocab-llama-spm.gguf";
  const fs::path q = models_dir() / "vocab" / "ggml-vocab-deepseek-llm.gguf";
  REQUIRE_FILE(p);
  REQUIRE_FILE(q);
  std::string text;
  for (int i = 0; i < 400; ++i)
    text += "The quick brown fox jumps over the lazy dog; 日本語のテキスト 12345 🦙 — ünïcödé.\n";
  for (const fs::path& f : {p, q}) {
    auto tok = must_load(f);
    ASSERT_TRUE(tok);
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok->encode(text, true, false);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[ speed    ] %s: %zu bytes -> %zu tokens in %.1f ms\n", f.filename().c_str(), text.size(), ids.size(),
                s * 1e3);
    EXPECT_LT(s, 2.0);  // generous: a quadratic algorithm takes far longer
    EXPECT_EQ(tok->decode(ids), text);
    // One 200 KB "word" (no pre-tokenizer split) and a 100 KB whitespace run.
    for (const std::string& w : {std::string(100000, 'a') + std::string(100000, 'b'), std::string(100000, ' ') + "x"}) {
      const auto t1 = std::chrono::steady_clock::now();
      const auto wids = tok->encode(w, false, false);
      const double s1 = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
      std::printf("[ speed    ] %s: %zu-byte word -> %zu tokens in %.1f ms\n", f.filename().c_str(), w.size(),
                  wids.size(), s1 * 1e3);
      EXPECT_LT(s1, 2.0);
      DecodeOptions st;
      st.sequence_start = true;
      EXPECT_EQ(tok->decode(wids, st), w);
    }
  }
}

}  // namespace
