// MLX affine quantized safetensors: config.json's quantization block, the bit-stream
// unpacking (every width), dequantization of hand-made modules, and the real
// TinyStories-656K-mlx-4bit / -8bit folders: weights against the F32 original within
// the format's bound, and greedy ids equal to the reference run (until EOS).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <unistd.h>

#include "shardlm/kernels/matmul.h"
#include "shardlm/kernels/quant.h"
#include "shardlm/model/forward.h"
#include "shardlm/model/hf-checkpoint.h"
#include "shardlm/model/mlx-quant.h"
#include "shardlm/model/model-arch.h"
#include "shardlm/model/model-source.h"

using namespace shardlm;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string shared_path(const std::string& rel) {
  const char* s = std::getenv("SHARDLM_SHARED");
  std::string base = s ? s : std::string(SHARDLM_SOURCE_DIR) + "/../shared";
  return base + "/" + rel;
}

// Independent packer: stream bit b is bit (b % 32) of little-endian word b / 32.
std::vector<uint8_t> pack(const std::vector<uint32_t>& codes, int bits) {
  const size_t nbits = codes.size() * bits;
  std::vector<uint32_t> words((nbits + 31) / 32, 0);
  for (size_t j = 0; j < codes.size(); ++j)
    for (int k = 0; k < bits; ++k) {
      const size_t b = j * bits + k;
      if ((codes[j] >> k) & 1u) words[b / 32] |= 1u << (b % 32);
    }
  std::vector<uint8_t> bytes(words.size() * 4);
  for (size_t w = 0; w < words.size(); ++w)
    for (int i = 0; i < 4; ++i) bytes[4 * w + i] = static_cast<uint8_t>(words[w] >> (8 * i));
  return bytes;
}

RawTensor raw(DType t, std::vector<int64_t> shape, const void* data, size_t nbytes) {
  RawTensor r;
  r.name = "t";
  r.type = t;
  r.shape = std::move(shape);
  r.data = static_cast<const uint8_t*>(data);
  r.nbytes = nbytes;
  r.file = "test";
  return r;
}

}  // namespace

// ---- config.json ----------------------------------------------------------------------

TEST(MlxConfig, ParsesTheForms) {
  auto none = parse_mlx_quantization(json{{"hidden_size", 8}});
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());

  // mlx-lm 2024-2025: no mode (affine); identical quantization_config ignored
  auto legacy = parse_mlx_quantization(json::parse(R"({"quantization": {"group_size": 32, "bits": 4},
      "quantization_config": {"group_size": 32, "bits": 4}})"));
  ASSERT_TRUE(legacy) << legacy.message();
  ASSERT_TRUE(legacy->has_value());
  EXPECT_EQ((*legacy)->global.group_size, 32);
  EXPECT_EQ((*legacy)->global.bits, 4);

  // only quantization_config (no quant_method): MLX too
  auto qc = parse_mlx_quantization(json::parse(R"({"quantization_config": {"group_size": 128, "bits": 8, "mode": "affine"}})"));
  ASSERT_TRUE(qc) << qc.message();
  EXPECT_EQ((*qc)->global.bits, 8);
  EXPECT_EQ((*qc)->global.group_size, 128);

  // per-module entries: an override, false, true
  auto mixed = parse_mlx_quantization(json::parse(R"({"quantization": {"group_size": 64, "bits": 4,
      "model.layers.0.mlp.down_proj": {"bits": 8}, "model.norm": false, "model.layers.1.mlp.up_proj": true}})"));
  ASSERT_TRUE(mixed) << mixed.message();
  const MlxQuantization& m = **mixed;
  ASSERT_TRUE(m.spec_of("model.layers.0.mlp.down_proj"));
  EXPECT_EQ(m.spec_of("model.layers.0.mlp.down_proj")->bits, 8);
  EXPECT_EQ(m.spec_of("model.layers.0.mlp.down_proj")->group_size, 64);  // inherited
  EXPECT_FALSE(m.spec_of("model.norm").has_value());
  EXPECT_EQ(m.spec_of("model.layers.1.mlp.up_proj")->bits, 4);
  EXPECT_EQ(m.spec_of("anything.else")->bits, 4);
}

TEST(MlxConfig, RefusesWhatIsNotMlxAffine) {
  auto gptq = parse_mlx_quantization(json::parse(R"({"quantization_config": {"quant_method": "gptq", "bits": 4}})"));
  ASSERT_FALSE(gptq);
  EXPECT_NE(gptq.message().find("gptq"), std::string::npos) << gptq.message();
  auto mx = parse_mlx_quantization(json::parse(R"({"quantization": {"group_size": 32, "bits": 4, "mode": "mxfp4"}})"));
  ASSERT_FALSE(mx);
  EXPECT_NE(mx.message().find("mxfp4"), std::string::npos) << mx.message();
  EXPECT_FALSE(parse_mlx_quantization(json::parse(R"({"quantization": {"group_size": 64, "bits": 7}})")));
  EXPECT_FALSE(parse_mlx_quantization(json::parse(R"({"quantization": {"group_size": "64", "bits": 4}})")));
  EXPECT_FALSE(parse_mlx_quantization(json::parse(R"({"quantization": {"bits": 4, "model.norm": 3}})")));
  EXPECT_FALSE(parse_mlx_quantization(json::parse(R"({"quantization": [4]})")));
}

// ---- packing --------------------------------------------------------------------------

TEST(MlxPacking, HandMadeWords) {
  // 4 bits: the first code is the low nibble of the first (little-endian) word.
  const uint8_t w4[4] = {0x21, 0x43, 0x65, 0x87};  // word 0x87654321
  for (int j = 0; j < 8; ++j) EXPECT_EQ(mlx_code(w4, j, 4), static_cast<uint32_t>(j + 1));
  // 8 bits: the low byte first.
  const uint8_t w8[4] = {0x01, 0xFF, 0x80, 0x7F};
  EXPECT_EQ(mlx_code(w8, 0, 8), 0x01u);
  EXPECT_EQ(mlx_code(w8, 1, 8), 0xFFu);
  EXPECT_EQ(mlx_code(w8, 3, 8), 0x7Fu);
  // 3 bits: codes 5, 3, 7 -> bits 101 | 011 << 3 | 111 << 6: byte 0 = 0xDD, byte 1 bit 0 = 1.
  const uint8_t w3[4] = {0xDD, 0x01, 0x00, 0x00};
  EXPECT_EQ(mlx_code(w3, 0, 3), 5u);
  EXPECT_EQ(mlx_code(w3, 1, 3), 3u);
  EXPECT_EQ(mlx_code(w3, 2, 3), 7u);
  EXPECT_EQ(mlx_code(w3, 3, 3), 0u);
  // 6 bits: code 5 occupies stream bits 30..35, straddling words 0 and 1.
  std::vector<uint32_t> c6(16, 0);
  c6[5] = 0x2D;  // 101101
  const auto p6 = pack(c6, 6);
  EXPECT_EQ(p6[3], 0x40);  // bits 30, 31 = low two bits of 0x2D (01) -> bit 30 set
  EXPECT_EQ(p6[4], 0x0B);  // bits 32..35 = 1011
  EXPECT_EQ(mlx_code(p6.data(), 5, 6), 0x2Du);
}

TEST(MlxPacking, EveryWidthRoundTrips) {
  std::mt19937 g(3);
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    std::vector<uint32_t> codes(192);  // 192 * bits is a multiple of 32 for every width
    for (auto& c : codes) c = g() & ((1u << bits) - 1u);
    const auto p = pack(codes, bits);
    ASSERT_EQ(p.size() * 8, codes.size() * bits);
    for (size_t j = 0; j < codes.size(); ++j) ASSERT_EQ(mlx_code(p.data(), static_cast<int64_t>(j), bits), codes[j]) << bits << " bits, code " << j;
  }
}

// ---- dequantization -------------------------------------------------------------------

TEST(MlxDequant, HandMadeModule) {
  // 2 rows x 64 inputs, 4 bits, group size 32: row r, code j = (j + r) % 16.
  std::vector<uint32_t> codes;
  for (int r = 0; r < 2; ++r)
    for (int j = 0; j < 64; ++j) codes.push_back(static_cast<uint32_t>((j + r) % 16));
  const auto words = pack(codes, 4);  // each row is 8 words, so rows pack back to back
  const float sc[4] = {0.5f, -0.25f, 2.0f, 0.125f};  // [row][group]
  const float bi[4] = {-1.0f, 3.0f, 0.0f, -0.0625f};
  RawTensor w = raw(DType::U32, {2, 8}, words.data(), words.size());
  RawTensor s = raw(DType::F32, {2, 2}, sc, sizeof sc);
  RawTensor b = raw(DType::F32, {2, 2}, bi, sizeof bi);
  auto y = mlx_dequantize("m", w, s, b, MlxQuantSpec{32, 4});
  ASSERT_TRUE(y) << y.message();
  ASSERT_EQ(y->size(), 128u);
  for (int r = 0; r < 2; ++r)
    for (int j = 0; j < 64; ++j) {
      const float q = static_cast<float>((j + r) % 16);
      EXPECT_EQ((*y)[r * 64 + j], sc[r * 2 + j / 32] * q + bi[r * 2 + j / 32]) << r << "," << j;
    }
  EXPECT_EQ((*y)[0], -1.0f);        // q 0: the bias
  EXPECT_EQ((*y)[32 + 1], 2.75f);   // q 1 * -0.25 + 3

  // F16 scales: the same numbers (exact in F16)
  uint16_t sh[4], bh[4];
  for (int i = 0; i < 4; ++i) {
    sh[i] = fp32_to_fp16(sc[i]);
    bh[i] = fp32_to_fp16(bi[i]);
  }
  RawTensor s16 = raw(DType::F16, {2, 2}, sh, sizeof sh);
  RawTensor b16 = raw(DType::F16, {2, 2}, bh, sizeof bh);
  auto y16 = mlx_dequantize("m", w, s16, b16, MlxQuantSpec{32, 4});
  ASSERT_TRUE(y16);
  EXPECT_EQ(*y16, *y);

  // As Q4_1: the same codes, d = scale and m = bias; dequantizing the blocks gives the
  // same numbers (all products here are exact in float).
  auto q41 = mlx_to_q4_1("m", w, s, b, MlxQuantSpec{32, 4});
  ASSERT_TRUE(q41) << q41.message();
  ASSERT_EQ(q41->size(), 2u * 2 * 20);
  std::vector<float> back(128);
  for (int r = 0; r < 2; ++r) ASSERT_TRUE(dequantize_row(DType::Q4_1, q41->data() + r * 40, back.data() + r * 64, 64));
  EXPECT_EQ(back, *y);
  EXPECT_EQ((*q41)[4], 0x00 | 0x00 << 4 | (16 % 16) << 4);  // row 0, block 0: codes 0 and 16 % 16 = 0
  EXPECT_EQ((*q41)[5], 1 | 1 << 4);                          // codes 1 and 17 % 16 = 1
  // Group size 64 = two Q4_1 blocks sharing the group's scale and bias.
  const float sc64[2] = {0.5f, 2.0f}, bi64[2] = {-1.0f, 0.0f};
  RawTensor s64 = raw(DType::F32, {2, 1}, sc64, sizeof sc64), b64 = raw(DType::F32, {2, 1}, bi64, sizeof bi64);
  auto y64 = mlx_dequantize("m", w, s64, b64, MlxQuantSpec{64, 4});
  auto q64 = mlx_to_q4_1("m", w, s64, b64, MlxQuantSpec{64, 4});
  ASSERT_TRUE(y64 && q64);
  for (int r = 0; r < 2; ++r) ASSERT_TRUE(dequantize_row(DType::Q4_1, q64->data() + r * 40, back.data() + r * 64, 64));
  EXPECT_EQ(back, *y64);
  // A scale f16 cannot hold exactly: refused (the source falls back to F16).
  const float odd[4] = {0.1f, -0.25f, 2.0f, 0.125f};
  RawTensor so = raw(DType::F32, {2, 2}, odd, sizeof odd);
  EXPECT_FALSE(mlx_to_q4_1("m", w, so, b, MlxQuantSpec{32, 4}));
  EXPECT_FALSE(mlx_to_q4_1("m", w, s, b, MlxQuantSpec{16, 4}));  // group smaller than a block

  // Shapes that do not agree with bits / group size, and wrong types.
  EXPECT_FALSE(mlx_dequantize("m", w, s, b, MlxQuantSpec{32, 8}));
  EXPECT_FALSE(mlx_dequantize("m", w, s, b, MlxQuantSpec{64, 4}));
  EXPECT_FALSE(mlx_dequantize("m", w, s, b16, MlxQuantSpec{32, 4}));
  RawTensor wf = raw(DType::F32, {2, 8}, words.data(), words.size());
  auto e = mlx_dequantize("model.layers.0.mlp.up_proj", wf, s, b, MlxQuantSpec{32, 4});
  ASSERT_FALSE(e);
  EXPECT_NE(e.message().find("model.layers.0.mlp.up_proj"), std::string::npos) << e.message();
}

// ---- the real folders --------------------------------------------------------------------

namespace {

std::vector<int32_t> expected_ids(const std::string& file) {
  std::ifstream f(file);
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("ids [", 0) != 0) continue;
    std::vector<int32_t> ids;
    for (const auto& v : json::parse(line.substr(4))) ids.push_back(v.get<int32_t>());
    return ids;
  }
  return {};
}

// Greedy decoding on one rank until EOS (included) or max_total tokens. With `forced`
// (teacher forcing), the next token is forced[ids.size()] instead of the argmax, and
// gaps receives logit[argmax] - logit[forced token] at each step (0 where they agree).
std::vector<int32_t> greedy(const ModelSource& src, std::vector<int32_t> ids, int eos, size_t max_total,
                            const std::vector<int32_t>* forced = nullptr, std::vector<float>* gaps = nullptr) {
  auto plan = make_shard_plan(src.hparams(), 0, 1, ff_split_unit(src));
  auto w = load_weights(src, plan.value(), {});
  EXPECT_TRUE(w) << w.message();
  if (!w) return {};
  KvConfig kc{w.value()->hp.n_layer, 64, 16, w.value()->hp.n_head_kv, w.value()->hp.head_dim};
  KvStorage kv(kc);
  ThreadPool pool(2);
  NoAllReduce ar;
  Forward fwd(*w.value(), kv, pool, ar);
  std::vector<int32_t> blocks(64);
  for (int i = 0; i < 64; ++i) blocks[i] = i;
  const int V = w.value()->hp.n_vocab;
  size_t done = 0;  // tokens already in the cache
  while (ids.size() < max_total) {
    ForwardBatch b;
    for (size_t i = done; i < ids.size(); ++i) {
      b.tokens.push_back(ids[i]);
      b.pos.push_back(static_cast<int32_t>(i));
      b.block_table.push_back(blocks.data());
    }
    b.logit_rows = {static_cast<int32_t>(b.tokens.size() - 1)};
    std::vector<float> logits;
    fwd.run(b, logits);
    done = ids.size();
    int best = 0;
    for (int v = 1; v < V; ++v)
      if (logits[v] > logits[best]) best = v;
    if (forced && ids.size() < forced->size()) {
      const int32_t f = (*forced)[ids.size()];
      if (gaps) gaps->push_back(logits[best] - logits[f]);
      best = f;
    }
    ids.push_back(best);
    if (best == eos || (forced && ids.size() >= forced->size())) break;
  }
  return ids;
}

struct Folder {
  const char* name;
  int bits;
  double step_bound;             // |w - w_f32| <= bound * |scale| (MANIFEST)
  double rel_lo, rel_hi;         // per-tensor relative error range (MANIFEST)
};

}  // namespace

class MlxFolder : public ::testing::TestWithParam<Folder> {};

TEST_P(MlxFolder, WeightsWithinTheFormatsBound) {
  const Folder& fo = GetParam();
  const std::string dir = shared_path(std::string("models/") + fo.name);
  const std::string orig = shared_path("models/TinyStories-656K");
  if (!fs::exists(dir + "/model.safetensors") || !fs::exists(orig + "/model.safetensors"))
    GTEST_SKIP() << dir << " not available (../shared absent)";
  auto src = ModelSource::open(dir);
  ASSERT_TRUE(src) << src.message();
  auto ref = ModelSource::open(orig);
  ASSERT_TRUE(ref) << ref.message();
  auto ck = HfCheckpoint::open(dir);
  ASSERT_TRUE(ck) << ck.message();
  const HParams& h = (*src)->hparams();
  EXPECT_EQ(h.n_vocab, 2048);
  EXPECT_EQ(h.n_embd, 128);
  EXPECT_TRUE(h.tied_embeddings);
  int checked = 0;
  for (const std::string name : {"token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.1.attn_v.weight",
                                 "blk.1.attn_output.weight", "blk.0.ffn_gate.weight", "blk.1.ffn_up.weight",
                                 "blk.0.ffn_down.weight"}) {
    SCOPED_TRACE(name);
    const RawTensor* q = (*src)->tensor(name);
    const RawTensor* f = (*ref)->tensor(name);
    ASSERT_TRUE(q && f);
    // 4-bit: Q4_1 blocks with the file's codes; 8-bit: F16.
    ASSERT_EQ(q->type, fo.bits == 4 ? DType::Q4_1 : DType::F16);
    ASSERT_EQ(q->shape, f->shape);
    // the group scales, from the file itself
    std::string module = hf_tensor_name(name);
    if (name == "token_embd.weight") module = "model.embed_tokens.weight";
    module = module.substr(0, module.size() - 7);
    const RawTensor* sc = (*ck)->tensor(module + ".scales");
    ASSERT_TRUE(sc);
    const int64_t rows = q->shape[0], cols = q->shape[1], groups = sc->shape[1], gs = cols / groups;
    EXPECT_EQ(gs, 64);
    std::vector<float> scales(groups), wf(cols), wq(rows * cols);
    for (int64_t r = 0; r < rows; ++r)
      ASSERT_TRUE(dequantize_row(q->type, q->data + r * dtype_row_bytes(q->type, cols), wq.data() + r * cols, cols));
    double e2 = 0, n2 = 0;
    int over = 0;
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_TRUE(dequantize_row(sc->type, sc->data + r * dtype_row_bytes(sc->type, groups), scales.data(), groups));
      ASSERT_TRUE(dequantize_row(f->type, f->data + r * dtype_row_bytes(f->type, cols), wf.data(), cols));
      for (int64_t c = 0; c < cols; ++c) {
        const double d = static_cast<double>(wq[r * cols + c]) - wf[c];
        e2 += d * d;
        n2 += static_cast<double>(wf[c]) * wf[c];
        // the format's bound, plus F16 storage rounding for 8-bit (2^-11 relative)
        const double store = fo.bits == 4 ? 0.0 : std::ldexp(std::fabs(wq[r * cols + c]), -11);
        if (std::fabs(d) > fo.step_bound * std::fabs(scales[c / gs]) + store + 1e-7) ++over;
      }
    }
    EXPECT_EQ(over, 0);
    const double rel = std::sqrt(e2 / n2);
    EXPECT_GE(rel, fo.rel_lo);
    EXPECT_LE(rel, fo.rel_hi);
    ++checked;
  }
  EXPECT_EQ(checked, 8);
  // norms stay float (F16 / BF16 in the file)
  const RawTensor* norm = (*src)->tensor("output_norm.weight");
  ASSERT_TRUE(norm);
  EXPECT_EQ(norm->type, fo.bits == 4 ? DType::F16 : DType::BF16);
}

TEST_P(MlxFolder, GreedyIdsEqualTheReference) {
  kernels_init();
  const Folder& fo = GetParam();
  const std::string dir = shared_path(std::string("models/") + fo.name);
  const auto want = expected_ids(dir + "/expected-greedy-once-upon-a-time.txt");
  if (!fs::exists(dir + "/model.safetensors") || want.empty()) GTEST_SKIP() << dir << " not available (../shared absent)";
  auto src = ModelSource::open(dir);
  ASSERT_TRUE(src) << src.message();
  const std::vector<int32_t> prompt = {1, 80, 147, 201, 282, 57};
  ASSERT_TRUE(std::equal(prompt.begin(), prompt.end(), want.begin()));
  if (fo.bits == 8) {
    // Stored as F16 and multiplied with float activations: the reference's ids exactly
    // (its smallest top-2 gap is 0.0039).
    const auto got = greedy(**src, prompt, 2, want.size() + 8);
    EXPECT_EQ(got, want) << "generated " << got.size() - prompt.size() << " tokens, expected "
                         << want.size() - prompt.size();
    return;
  }
  // 4-bit: Q4_1 blocks with the file's codes, multiplied like GGUF Q4 types with the
  // activations quantized to 8 bits (vec-dot.h), so the float32 reference's near-ties
  // may flip. Teacher-forced along the reference's ids: at every step the reference's
  // token is at most kGap below our best logit, and most steps agree. Measured: 152 of
  // 154 steps agree, largest gap 0.055; with the two nibbles of each byte swapped, 0
  // agree and the largest gap is 21.
  constexpr float kGap = 0.25f;
  std::vector<float> gaps;
  greedy(**src, prompt, 2, want.size(), &want, &gaps);
  ASSERT_EQ(gaps.size(), want.size() - prompt.size());
  int agree = 0;
  float worst = 0;
  for (float g : gaps) {
    agree += g == 0.0f;
    worst = std::max(worst, g);
  }
  EXPECT_LE(worst, kGap);
  EXPECT_GE(agree, static_cast<int>(gaps.size() * 9 / 10)) << "steps where our argmax is the reference's";
  std::printf("4-bit teacher-forced: %d of %zu steps agree, largest gap %.4f\n", agree, gaps.size(), worst);
}

INSTANTIATE_TEST_SUITE_P(Real, MlxFolder,
                         ::testing::Values(Folder{"TinyStories-656K-mlx-4bit", 4, 1.0, 0.085, 0.100},
                                           Folder{"TinyStories-656K-mlx-8bit", 8, 1.5, 0.006, 0.008}),
                         [](const ::testing::TestParamInfo<Folder>& p) { return std::to_string(p.param.bits) + "bit"; });

// ---- errors through the HF source -------------------------------------------------------

namespace {

// A copy of the 4-bit folder with config.json's quantization block replaced.
std::string folder_with_block(const json& block, const std::string& key = "quantization") {
  const std::string src = shared_path("models/TinyStories-656K-mlx-4bit");
  const std::string dir = fs::temp_directory_path() / ("shardlm-mlx-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"model.safetensors", "model.safetensors.index.json", "tokenizer.json"})
    fs::copy_file(src + "/" + f, dir + "/" + f);
  std::ifstream in(src + "/config.json");
  json c = json::parse(in);
  c.erase("quantization");
  c.erase("quantization_config");
  c[key] = block;
  std::ofstream(dir + "/config.json") << c.dump(2);
  return dir;
}

}  // namespace

TEST(MlxSource, ErrorsNameTheProblem) {
  if (!fs::exists(shared_path("models/TinyStories-656K-mlx-4bit/model.safetensors")))
    GTEST_SKIP() << "../shared absent";
  struct Case {
    json block;
    const char* key;
    const char* needle;
  };
  const Case cases[] = {
      {json::parse(R"({"group_size": 64, "bits": 8})"), "quantization", "do not agree with 8 bits"},
      {json::parse(R"({"group_size": 32, "bits": 4})"), "quantization", "group size 32"},
      {json::parse(R"({"group_size": 64, "bits": 4, "mode": "nvfp4"})"), "quantization", "nvfp4"},
      {json::parse(R"({"group_size": 64, "bits": 4, "model.layers.1.mlp.up_proj": false})"), "quantization",
       "model.layers.1.mlp.up_proj"},
      {json::parse(R"({"quant_method": "awq", "bits": 4})"), "quantization_config", "awq"},
  };
  for (const auto& c : cases) {
    const std::string dir = folder_with_block(c.block, c.key);
    auto s = ModelSource::open(dir);
    EXPECT_FALSE(s) << c.needle;
    if (!s) {
      EXPECT_NE(s.message().find(c.needle), std::string::npos) << s.message();
    }
    fs::remove_all(dir);
  }
  // With the block right again it opens.
  const std::string dir = folder_with_block(json::parse(R"({"group_size": 64, "bits": 4})"));
  auto ok = ModelSource::open(dir);
  EXPECT_TRUE(ok) << ok.message();
  fs::remove_all(dir);
}
