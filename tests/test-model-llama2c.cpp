// Llama2cFile: stories260K.bin parses and its tensors equal stories260K.gguf's byte
// for byte; a synthetic checkpoint is sliced at the right offsets; truncated files and
// absurd headers are refused with the file and the problem named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "shardlm/model/gguf.h"
#include "shardlm/model/llama2c.h"

namespace fs = std::filesystem;
using namespace shardlm;

namespace {

std::string shared_dir() {
  const char* e = std::getenv("SHARDLM_SHARED");
  return e && *e ? e : std::string(SHARDLM_SOURCE_DIR) + "/../shared";
}

const std::string kDir = shared_dir() + "/models/stories260K";

struct Hdr { int32_t v[7]; };

// A checkpoint whose floats are 0, 1, 2, ... in file order.
std::string make_checkpoint(const Hdr& h, int64_t n_floats) {
  std::string b(reinterpret_cast<const char*>(h.v), sizeof h.v);
  for (int64_t i = 0; i < n_floats; ++i) {
    float f = static_cast<float>(i);
    b.append(reinterpret_cast<const char*>(&f), 4);
  }
  return b;
}

std::string write_temp(const std::string& bytes) {
  static int n = 0;
  fs::path p = fs::temp_directory_path() / ("shardlm-test-l2c-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".bin");
  std::ofstream(p, std::ios::binary) << bytes;
  return p.string();
}

// Writes bytes to a temp file, opens it, expects failure naming the file and keyword.
void expect_refused(const std::string& bytes, const std::string& keyword) {
  std::string p = write_temp(bytes);
  auto r = Llama2cFile::open(p);
  std::error_code ec;
  fs::remove(p, ec);
  ASSERT_FALSE(r) << "accepted a malformed checkpoint; expected '" << keyword << "'";
  EXPECT_NE(r.message().find(p), std::string::npos) << r.message();
  EXPECT_NE(r.message().find(keyword), std::string::npos) << "expected '" << keyword << "' in: " << r.message();
}

// Tiny model: dim 8, hidden 12, 2 layers, 2 heads, 1 KV head (kv_dim 4), vocab 10,
// seq_len 4, head_size 4.
constexpr int64_t kTinyFloats(bool wcls) {
  const int64_t d = 8, f = 12, L = 2, V = 10, kv = 4, S = 4, hs2 = 2;
  return V * d + L * d + L * d * d + 2 * L * kv * d + L * d * d + L * d + 3 * L * f * d + d + 2 * S * hs2 +
         (wcls ? V * d : 0);
}

}  // namespace

TEST(Llama2c, Stories260K) {
  if (!fs::exists(kDir + "/stories260K.bin")) GTEST_SKIP() << "test model not found: " << kDir << " (set SHARDLM_SHARED)";
  auto r = Llama2cFile::open(kDir + "/stories260K.bin");
  ASSERT_TRUE(r) << r.message();
  const Llama2cFile& m = **r;
  const Llama2cHeader& h = m.header();
  EXPECT_EQ(h.dim, 64);
  EXPECT_EQ(h.hidden_dim, 172);
  EXPECT_EQ(h.n_layers, 5);
  EXPECT_EQ(h.n_heads, 8);
  EXPECT_EQ(h.n_kv_heads, 4);
  EXPECT_EQ(h.vocab_size, 512);
  EXPECT_EQ(h.seq_len, 512);
  EXPECT_TRUE(h.shared_classifier);
  EXPECT_EQ(h.kv_dim(), 32);
  EXPECT_EQ(Llama2cFile::expected_size(h), 1056540u);
  EXPECT_EQ(m.tensors().size(), 1u + 9 * 5 + 1);
  EXPECT_EQ(m.tensor("output.weight"), nullptr);  // shared classifier
  ASSERT_NE(m.tensor("blk.4.attn_k.weight"), nullptr);
  EXPECT_EQ(m.tensor("blk.4.attn_k.weight")->shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(m.tensor("blk.0.ffn_down.weight")->shape, (std::vector<int64_t>{64, 172}));
  EXPECT_EQ(m.tensor("blk.0.ffn_gate.weight")->shape, (std::vector<int64_t>{172, 64}));
  EXPECT_EQ(m.tensor("token_embd.weight")->data, m.file()->data() + 28);
  EXPECT_EQ(m.tensor("token_embd.weight")->file, kDir + "/stories260K.bin");
}

TEST(Llama2c, Stories260KEqualsGguf) {
  if (!fs::exists(kDir + "/stories260K.gguf")) GTEST_SKIP() << "test model not found: " << kDir << " (set SHARDLM_SHARED)";
  auto bin = Llama2cFile::open(kDir + "/stories260K.bin");
  ASSERT_TRUE(bin) << bin.message();
  auto gg = GgufFile::open(kDir + "/stories260K.gguf");
  ASSERT_TRUE(gg) << gg.message();
  size_t compared = 0;
  for (const RawTensor& t : (*bin)->tensors()) {
    SCOPED_TRACE(t.name);
    const RawTensor* g = (*gg)->tensor(t.name);
    ASSERT_NE(g, nullptr) << "not in the GGUF";
    ASSERT_EQ(g->type, DType::F32);
    ASSERT_EQ(g->shape, t.shape);
    ASSERT_EQ(g->nbytes, t.nbytes);
    EXPECT_EQ(std::memcmp(g->data, t.data, t.nbytes), 0) << "bytes differ";
    ++compared;
  }
  EXPECT_EQ(compared, (*bin)->tensors().size());
  // And the GGUF has no weight the .bin lacks, except output.weight: its converter
  // wrote the shared classifier out as a copy of the embedding.
  for (const RawTensor& g : (*gg)->tensors()) {
    if (g.name == "output.weight") {
      const RawTensor* e = (*bin)->tensor("token_embd.weight");
      ASSERT_EQ(g.nbytes, e->nbytes);
      EXPECT_EQ(std::memcmp(g.data, e->data, e->nbytes), 0) << "GGUF output.weight differs from the shared embedding";
      continue;
    }
    EXPECT_NE((*bin)->tensor(g.name), nullptr) << g.name;
  }
}

TEST(Llama2c, SyntheticSlices) {
  for (bool wcls : {false, true}) {
    SCOPED_TRACE(wcls ? "separate classifier" : "shared classifier");
    Hdr h{{8, 12, 2, 2, 1, wcls ? -10 : 10, 4}};
    std::string bytes = make_checkpoint(h, kTinyFloats(wcls));
    auto r = Llama2cFile::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "tiny.bin");
    ASSERT_TRUE(r) << r.message();
    const Llama2cFile& m = **r;
    EXPECT_EQ(m.header().shared_classifier, !wcls);
    EXPECT_EQ(m.header().vocab_size, 10);
    auto first = [&](const std::string& n) {
      const RawTensor* t = m.tensor(n);
      EXPECT_NE(t, nullptr) << n;
      if (!t) return -1.0f;
      float f;
      std::memcpy(&f, t->data, 4);
      return f;
    };
    // Offsets in floats, by hand: emb 80, rms_att 2×8, wq 2×64, wk 2×32, wv 2×32,
    // wo 2×64, rms_ffn 2×8, w1 2×96, w2 2×96, w3 2×96, rms_final 8, freqs 2×8.
    EXPECT_EQ(first("token_embd.weight"), 0.0f);
    EXPECT_EQ(first("blk.0.attn_norm.weight"), 80.0f);
    EXPECT_EQ(first("blk.1.attn_norm.weight"), 88.0f);
    EXPECT_EQ(first("blk.0.attn_q.weight"), 96.0f);
    EXPECT_EQ(first("blk.1.attn_q.weight"), 160.0f);
    EXPECT_EQ(first("blk.0.attn_k.weight"), 224.0f);
    EXPECT_EQ(first("blk.1.attn_k.weight"), 256.0f);
    EXPECT_EQ(first("blk.0.attn_v.weight"), 288.0f);
    EXPECT_EQ(first("blk.1.attn_v.weight"), 320.0f);
    EXPECT_EQ(first("blk.0.attn_output.weight"), 352.0f);
    EXPECT_EQ(first("blk.1.attn_output.weight"), 416.0f);
    EXPECT_EQ(first("blk.0.ffn_norm.weight"), 480.0f);
    EXPECT_EQ(first("blk.1.ffn_norm.weight"), 488.0f);
    EXPECT_EQ(first("blk.0.ffn_gate.weight"), 496.0f);
    EXPECT_EQ(first("blk.1.ffn_gate.weight"), 592.0f);
    EXPECT_EQ(first("blk.0.ffn_down.weight"), 688.0f);
    EXPECT_EQ(first("blk.1.ffn_down.weight"), 784.0f);
    EXPECT_EQ(first("blk.0.ffn_up.weight"), 880.0f);
    EXPECT_EQ(first("blk.1.ffn_up.weight"), 976.0f);
    EXPECT_EQ(first("output_norm.weight"), 1072.0f);
    EXPECT_EQ(m.tensor("blk.1.attn_k.weight")->shape, (std::vector<int64_t>{4, 8}));
    EXPECT_EQ(m.tensor("blk.1.ffn_down.weight")->shape, (std::vector<int64_t>{8, 12}));
    EXPECT_EQ(m.tensor("blk.1.ffn_down.weight")->nbytes, 8u * 12 * 4);
    if (wcls) {
      EXPECT_EQ(first("output.weight"), 1080.0f + 16.0f);  // after rms_final and the freq tables
      EXPECT_EQ(m.tensor("output.weight")->shape, (std::vector<int64_t>{10, 8}));
    } else {
      EXPECT_EQ(m.tensor("output.weight"), nullptr);
    }
  }
}

TEST(Llama2cRefuses, Truncated) {
  Hdr h{{8, 12, 2, 2, 1, 10, 4}};
  const int64_t n = kTinyFloats(false);
  std::string full = make_checkpoint(h, n);
  const std::string want = std::to_string(28 + 4 * n);
  expect_refused(full.substr(0, full.size() - 4), "truncated");
  expect_refused(full.substr(0, full.size() - 4), want + " bytes, the file has " + std::to_string(full.size() - 4));
  expect_refused(full.substr(0, 28), "truncated");
  expect_refused(full.substr(0, 20), "too short");
  // A separate classifier the file does not hold.
  Hdr hw{{8, 12, 2, 2, 1, -10, 4}};
  expect_refused(make_checkpoint(hw, n), "truncated");
}

TEST(Llama2cRefuses, TrailingBytes) {
  Hdr h{{8, 12, 2, 2, 1, 10, 4}};
  expect_refused(make_checkpoint(h, kTinyFloats(false) + 3), "12 extra");
}

TEST(Llama2cRefuses, AbsurdHeader) {
  const int64_t n = kTinyFloats(false);
  expect_refused(make_checkpoint(Hdr{{-8, 12, 2, 2, 1, 10, 4}}, n), "must be positive");
  expect_refused(make_checkpoint(Hdr{{8, 0, 2, 2, 1, 10, 4}}, n), "must be positive");
  expect_refused(make_checkpoint(Hdr{{8, 12, -2, 2, 1, 10, 4}}, n), "must be positive");
  expect_refused(make_checkpoint(Hdr{{8, 12, 2, 2, 1, 0, 4}}, n), "must be positive");
  expect_refused(make_checkpoint(Hdr{{8, 12, 2, 2, 1, INT_MIN, 4}}, n), "must be positive");
  expect_refused(make_checkpoint(Hdr{{8, 12, 2, 2, 1, 10, -4}}, n), "must be positive");
  expect_refused(make_checkpoint(Hdr{{8, 12, 2, 3, 1, 10, 4}}, n), "not a multiple of n_heads");
  expect_refused(make_checkpoint(Hdr{{8, 12, 2, 2, 3, 10, 4}}, n), "not a multiple of n_kv_heads");
  expect_refused(make_checkpoint(Hdr{{6, 12, 2, 2, 1, 10, 4}}, n), "odd");
  // Sizes that overflow 64 bits: every product checked.
  expect_refused(make_checkpoint(Hdr{{1 << 30, 1 << 30, 1 << 30, 2, 1, INT_MAX, 1 << 30}}, 0), "overflow");
  // Huge but representable: reported as truncated, with the figures.
  expect_refused(make_checkpoint(Hdr{{4096, 11008, 32, 32, 32, 32000, 2048}}, 0), "truncated");
}

TEST(Llama2cRefuses, NewerExportFormat) {
  std::string b = make_checkpoint(Hdr{{0x616b3432, 1, 0, 0, 0, 0, 0}}, 64);
  expect_refused(b, "version 1");
}

TEST(Llama2cRefuses, MissingFile) {
  auto r = Llama2cFile::open("/nonexistent/model.bin");
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("/nonexistent/model.bin"), std::string::npos) << r.message();
}
