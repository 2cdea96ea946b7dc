// Hugging Face tokenizer.json reading, on small hand-made files shaped like Llama 3's
// (byte-level BPE, Split regex, TemplateProcessing BOS) and like newer Llama/Mistral
// conversions (Metaspace, byte fallback).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "shardlm/tokenizer/tokenizer.h"
#include "shardlm/tokenizer/utf8.h"

namespace fs = std::filesystem;
using namespace shardlm;
using json = nlohmann::json;

namespace {

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) : path(fs::temp_directory_path() / name) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  void write(const std::string& file, const json& j) const { std::ofstream(path / file) << j.dump(1); }
};

std::unique_ptr<Tokenizer> load_hf(const fs::path& dir) {
  auto spec = vocab_from_hf(dir.string());
  EXPECT_TRUE(spec.is_ok()) << spec.message();
  if (!spec) return nullptr;
  auto t = Tokenizer::create(std::move(spec.value()));
  EXPECT_TRUE(t.is_ok()) << t.message();
  return t ? std::move(t.value()) : nullptr;
}

const char* kLlama3Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Byte-level vocabulary: ids 0..255 are the byte characters in byte order, then merges.
json byte_level_tokenizer() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_to_unicode(static_cast<uint8_t>(b))] = b;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"\xC4\xA0", "w"}, {"o", "r"}, {"\xC4\xA0w", "or"}, {"l", "d"}, {"\xC4\xA0wor", "ld"},
      {"H", "e"},        {"l", "l"}, {"He", "ll"},        {"Hell", "o"}};
  json jm = json::array();
  int id = 256;
  for (size_t i = 0; i < merges.size(); ++i) {
    vocab[merges[i].first + merges[i].second] = id++;
    if (i % 2)
      jm.push_back(merges[i].first + " " + merges[i].second);  // old format
    else
      jm.push_back(json::array({merges[i].first, merges[i].second}));  // new format
  }
  json t;
  t["version"] = "1.0";
  t["added_tokens"] = json::array({
      {{"id", 265}, {"content", "<|begin_of_text|>"}, {"special", true}},
      {{"id", 266}, {"content", "<|eot_id|>"}, {"special", true}},
      {{"id", 267}, {"content", "<tool>"}, {"special", false}},
  });
  t["normalizer"] = nullptr;
  t["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         json::array({{{"type", "Split"},
                                       {"pattern", {{"Regex", kLlama3Split}}},
                                       {"behavior", "Isolated"},
                                       {"invert", false}},
                                      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
  t["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       json::array({{{"type", "ByteLevel"}},
                    {{"type", "TemplateProcessing"},
                     {"single", json::array({{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
                                             {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}}})}};
  t["decoder"] = {{"type", "ByteLevel"}};
  t["model"] = {{"type", "BPE"}, {"ignore_merges", true}, {"vocab", vocab}, {"merges", jm}};
  return t;
}

TEST(HfTokenizer, ByteLevelLikeLlama3) {
  TempDir d("shardlm-test-hf-bytelevel");
  d.write("tokenizer.json", byte_level_tokenizer());
  d.write("tokenizer_config.json", {{"bos_token", "<|begin_of_text|>"},
                                    {"eos_token", "<|eot_id|>"},
                                    {"chat_template", "{{ messages }}"}});
  d.write("generation_config.json", {{"eos_token_id", json::array({266, 265})}});
  auto tok = load_hf(d.path);
  ASSERT_TRUE(tok);
  EXPECT_TRUE(tok->byte_level());
  EXPECT_EQ(tok->n_vocab(), 268);
  EXPECT_EQ(tok->bos_id(), 265);
  EXPECT_EQ(tok->eos_id(), 266);
  EXPECT_TRUE(tok->add_bos_default());  // from the TemplateProcessing post-processor
  EXPECT_EQ(tok->chat_template(), "{{ messages }}");
  EXPECT_TRUE(tok->is_eog(266));
  EXPECT_TRUE(tok->is_eog(265));  // generation_config.json lists it

  const int32_t hello = tok->token_id("Hello"), world = tok->token_id("\xC4\xA0world");
  ASSERT_GE(hello, 0);
  ASSERT_GE(world, 0);
  EXPECT_EQ(tok->encode("Hello world", true, false), (std::vector<int32_t>{265, hello, world}));
  EXPECT_EQ(tok->encode("Hello<|eot_id|>", false, true), (std::vector<int32_t>{hello, 266}));
  const auto plain = tok->encode("<|eot_id|>", false, false);  // text, not the token
  EXPECT_EQ(std::find(plain.begin(), plain.end(), 266), plain.end());
  EXPECT_EQ(tok->decode(plain), "<|eot_id|>");
  // A non-special added token is always cut out, and decodes to its text.
  EXPECT_EQ(tok->encode("a<tool>b", false, false), (std::vector<int32_t>{'a', 267, 'b'}));
  EXPECT_EQ(tok->decode({'a', 267, 'b'}), "a<tool>b");
  // Every byte round-trips through the byte-level mapping.
  std::string all;
  for (int b = 1; b < 256; ++b) all += static_cast<char>(b);
  const auto ids = tok->encode(all, false, false);
  std::string back;
  for (int32_t id : ids) back += tok->token_piece(id);
  EXPECT_EQ(back, all);
  DecodeOptions special;
  special.render_special = true;
  EXPECT_EQ(tok->decode({265, hello, 266}, special), "<|begin_of_text|>Hello<|eot_id|>");
  EXPECT_EQ(tok->decode({265, hello, 266}), "Hello");
}

TEST(HfTokenizer, MetaspaceWithByteFallback) {
  const std::string u = "\xE2\x96\x81";
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  int id = 3;
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    vocab[buf] = id++;
  }
  for (const char* c : {"H", "e", "l", "o", "w", "r", "d"}) vocab[c] = id++;
  vocab[u] = id++;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {u, "H"}, {"e", "l"}, {u + "H", "el"}, {"l", "o"}, {u + "Hel", "lo"}, {u, "w"}};
  json jm = json::array();
  for (const auto& [a, b] : merges) {
    vocab[a + b] = id++;
    jm.push_back(a + " " + b);
  }
  json t;
  t["added_tokens"] = json::array({{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                                   {{"id", 1}, {"content", "<s>"}, {"special", true}},
                                   {{"id", 2}, {"content", "</s>"}, {"special", true}}});
  t["normalizer"] = nullptr;
  t["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", u}, {"prepend_scheme", "first"}, {"split", false}};
  t["model"] = {{"type", "BPE"},  {"byte_fallback", true}, {"fuse_unk", true}, {"unk_token", "<unk>"},
                {"vocab", vocab}, {"merges", jm}};
  TempDir d("shardlm-test-hf-metaspace");
  d.write("tokenizer.json", t);
  d.write("tokenizer_config.json", {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"add_bos_token", true}});
  auto tok = load_hf(d.path / "tokenizer.json");
  ASSERT_TRUE(tok);
  EXPECT_FALSE(tok->byte_level());
  EXPECT_EQ(tok->unk_id(), 0);
  const int32_t hello = tok->token_id(u + "Hello");
  ASSERT_GE(hello, 0);
  EXPECT_EQ(tok->encode("Hello", true, false), (std::vector<int32_t>{1, hello}));
  // prepend_scheme "first": no second "▁" when the text already starts with a space.
  EXPECT_EQ(tok->encode(" Hello", false, false), (std::vector<int32_t>{hello}));
  // "!" has no token: byte fallback <0x21> (id 3 + 0x21).
  EXPECT_EQ(tok->encode("Hello!", false, false), (std::vector<int32_t>{hello, 3 + 0x21}));
  EXPECT_EQ(tok->decode({1, hello, 3 + 0x21}), "Hello!");
  // A multi-byte character falls back to its three bytes, streamed whole.
  const auto ids = tok->encode("Hello \xE2\x82\xAC", true, false);
  EXPECT_EQ(tok->decode(ids), "Hello \xE2\x82\xAC");
  StreamDecoder sd(*tok);
  std::string s;
  for (int32_t i : ids) {
    std::string c = sd.push(i);
    EXPECT_TRUE(utf8_is_valid(c));
    s += c;
  }
  EXPECT_EQ(s + sd.flush(), "Hello \xE2\x82\xAC");
}

TEST(HfTokenizer, UnsupportedAndMalformed) {
  TempDir d("shardlm-test-hf-bad");
  json t = byte_level_tokenizer();
  t["model"]["type"] = "Unigram";
  d.write("tokenizer.json", t);
  auto r = vocab_from_hf(d.path.string());
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.message().find("Unigram"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("tokenizer.json"), std::string::npos) << r.message();

  t = byte_level_tokenizer();
  t["model"]["merges"] = json::array({42});
  d.write("tokenizer.json", t);
  r = vocab_from_hf(d.path.string());
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.message().find("merge"), std::string::npos) << r.message();

  std::ofstream(d.path / "tokenizer.json") << "{ not json";
  r = vocab_from_hf(d.path.string());
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.message().find("not valid JSON"), std::string::npos) << r.message();

  r = vocab_from_hf((d.path / "missing").string());
  ASSERT_FALSE(r.is_ok());
}

}  // namespace
