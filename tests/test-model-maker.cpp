// make-model: presets, determinism, the same weights in GGUF and HF form (after
// undoing the llama Q/K permutation), every tiny preset × dtype readable by the
// engine's GGUF reader and model sources with the expected shapes, vocab conversion.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shardlm/kernels/quant.h"
#include "shardlm/model/gguf.h"
#include "shardlm/model/hparams.h"
#include "shardlm/model/model-arch.h"
#include "shardlm/model/model-maker.h"
#include "shardlm/model/model-source.h"

using namespace shardlm;
namespace fs = std::filesystem;

namespace {

std::string shared_dir() {
  if (const char* s = std::getenv("SHARDLM_SHARED"); s && *s) return s;
  return std::string(SHARDLM_SOURCE_DIR) + "/../shared";
}
std::string stories_vocab() { return shared_dir() + "/models/stories260K/stories260K.gguf"; }

#define REQUIRE_SHARED()                                                                     \
  if (!fs::exists(stories_vocab())) GTEST_SKIP() << stories_vocab() << " not found (../shared absent)"

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/shardlm-maker-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& n) const { return path_ + "/" + n; }

 private:
  std::string path_;
};

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

MakeModelConfig config(const std::string& preset, DType t, const std::string& format, const std::string& out) {
  MakeModelConfig c;
  c.preset = preset;
  c.dtype = t;
  c.format = format;
  c.out = out;
  c.vocab_from = stories_vocab();
  return c;
}

// Minimal safetensors reader (single file or index) for HF outputs: name -> floats.
struct HfTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

std::map<std::string, HfTensor> read_hf(const std::string& dir) {
  std::vector<std::string> files;
  if (fs::exists(dir + "/model.safetensors.index.json")) {
    auto idx = nlohmann::json::parse(read_all(dir + "/model.safetensors.index.json"));
    std::set<std::string> s;
    for (auto& [k, v] : idx["weight_map"].items()) s.insert(v.get<std::string>());
    files.assign(s.begin(), s.end());
  } else {
    files.push_back("model.safetensors");
  }
  std::map<std::string, HfTensor> out;
  for (const auto& f : files) {
    auto bytes = read_all(dir + "/" + f);
    uint64_t n;
    std::memcpy(&n, bytes.data(), 8);
    auto h = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<ptrdiff_t>(n));
    for (auto& [name, e] : h.items()) {
      if (name == "__metadata__") continue;
      HfTensor t;
      t.dtype = e["dtype"];
      t.shape = e["shape"].get<std::vector<int64_t>>();
      auto off = e["data_offsets"].get<std::vector<uint64_t>>();
      const DType dt = t.dtype == "F32" ? DType::F32 : t.dtype == "F16" ? DType::F16 : DType::BF16;
      const int64_t numel = static_cast<int64_t>((off[1] - off[0]) / (dt == DType::F32 ? 4 : 2));
      t.values.resize(static_cast<size_t>(numel));
      EXPECT_TRUE(dequantize_row(dt, bytes.data() + 8 + n + off[0], t.values.data(), numel));
      out[name] = std::move(t);
    }
  }
  return out;
}

std::vector<float> dequant(const RawTensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  EXPECT_TRUE(dequantize_row(t.type, t.data, v.data(), t.numel())) << t.name;
  return v;
}

// GGUF (llama arch) Q/K rows -> HF order: GGUF row h*D + 2j + s holds HF row h*D + s*D/2 + j.
std::vector<float> unpermute(const std::vector<float>& g, int64_t rows, int64_t cols, int64_t D) {
  std::vector<float> h(g.size());
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t head = r / D, w = r % D, hf = head * D + (w % 2) * (D / 2) + w / 2;
    std::memcpy(&h[static_cast<size_t>(hf * cols)], &g[static_cast<size_t>(r * cols)], static_cast<size_t>(cols) * 4);
  }
  return h;
}

const char* kTiny[] = {"tiny-llama", "tiny-llama3", "tiny-mistral", "tiny-mqa",
                       "tiny-tied",  "tiny-qwen2",  "tiny-qwen3",   "tiny-smollm"};

}  // namespace

TEST(ModelMaker, PresetTable) {
  std::set<std::string> names;
  for (const auto& p : model_presets()) {
    EXPECT_TRUE(names.insert(p.name).second) << p.name;
    ASSERT_NE(arch_by_key(p.arch), nullptr) << p.name;
    EXPECT_NE(arch_by_hf(p.hf_arch), nullptr) << p.name;
    EXPECT_EQ(p.n_embd % 32, 0) << p.name;
    EXPECT_EQ(p.n_ff % 32, 0) << p.name;
    EXPECT_EQ((p.n_head * p.head_dim) % 32, 0) << p.name;
    EXPECT_EQ(p.n_head % p.n_head_kv, 0) << p.name;
    EXPECT_EQ(p.head_dim % 2, 0) << p.name;
  }
  for (const char* t : kTiny) EXPECT_NE(find_model_preset(t), nullptr) << t;
  EXPECT_NE(find_model_preset("tinyllama-1.1b"), nullptr);
  EXPECT_NE(find_model_preset("qwen2.5-0.5b"), nullptr);
  EXPECT_EQ(find_model_preset("nope"), nullptr);
  EXPECT_EQ(find_model_preset("tiny-llama")->n_ff, 160);  // 5 blocks of 32: uneven over 2 and 4 ranks
  EXPECT_NE(find_model_preset("tiny-qwen3")->head_dim * 4, find_model_preset("tiny-qwen3")->n_embd);
}

TEST(ModelMaker, GeneratorIsFixedAndNormalish) {
  // Golden values: a change here silently changes every generated test model.
  EXPECT_EQ(maker_normal(1234, "model.embed_tokens.weight", 0), 0.817924619f);
  EXPECT_EQ(maker_normal(1234, "model.embed_tokens.weight", 1), -0.596555352f);
  EXPECT_EQ(maker_normal(1234, "model.embed_tokens.weight", 2), 0.445222884f);
  EXPECT_NE(maker_normal(1234, "a", 0), maker_normal(1235, "a", 0));
  EXPECT_NE(maker_normal(1234, "a", 0), maker_normal(1234, "b", 0));
  const int n = 200000;
  double s = 0, s2 = 0, mx = 0;
  for (int i = 0; i < n; ++i) {
    const double z = maker_normal(7, "stats", static_cast<uint64_t>(i));
    s += z;
    s2 += z * z;
    mx = std::max(mx, std::fabs(z));
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.02);
  EXPECT_LE(mx, 3.47);
  EXPECT_GT(mx, 3.0);
}

TEST(ModelMaker, Deterministic) {
  REQUIRE_SHARED();
  TempDir d;
  ASSERT_TRUE(make_model(config("tiny-qwen2", DType::F32, "gguf", d / "a.gguf")));
  ASSERT_TRUE(make_model(config("tiny-qwen2", DType::F32, "gguf", d / "b.gguf")));
  auto c = config("tiny-qwen2", DType::F32, "gguf", d / "c.gguf");
  c.seed = 99;
  ASSERT_TRUE(make_model(c));
  const auto a = read_all(d / "a.gguf"), b = read_all(d / "b.gguf"), cc = read_all(d / "c.gguf");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), cc.size());
  EXPECT_NE(a, cc);
  EXPECT_FALSE(make_model(config("tiny-llama", DType::Q4_0, "hf", d / "x")));
  ASSERT_TRUE(make_model(config("tiny-llama", DType::BF16, "hf", d / "h1")));
  ASSERT_TRUE(make_model(config("tiny-llama", DType::BF16, "hf", d / "h2")));
  for (const char* f : {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"})
    EXPECT_EQ(read_all(d / (std::string("h1/") + f)), read_all(d / (std::string("h2/") + f))) << f;
}

// The same numbers in both formats, for f32 and for f16 / bf16 (where GGUF keeps norms
// and biases in F32 but the values were rounded through the model dtype).
TEST(ModelMaker, GgufAndHfHoldTheSameWeights) {
  REQUIRE_SHARED();
  TempDir d;
  for (const char* preset : {"tiny-llama", "tiny-llama3", "tiny-mqa", "tiny-qwen2", "tiny-qwen3", "tiny-tied"}) {
    for (DType t : {DType::F32, DType::F16, DType::BF16}) {
      SCOPED_TRACE(std::string(preset) + " " + dtype_name(t));
      const std::string g = d / (std::string(preset) + dtype_name(t) + ".gguf"), h = d / (std::string(preset) + dtype_name(t));
      auto hc = config(preset, t, "hf", h);
      hc.max_shard_bytes = 100000;  // several shards and an index
      ASSERT_TRUE(make_model(config(preset, t, "gguf", g)));
      ASSERT_TRUE(make_model(hc));
      EXPECT_TRUE(fs::exists(h + "/model.safetensors.index.json"));
      auto gf = GgufFile::open(g);
      ASSERT_TRUE(gf) << gf.message();
      const auto hf = read_hf(h);
      const ModelPreset& p = *find_model_preset(preset);
      const bool permuted = std::string(p.arch) == "llama";
      size_t compared = 0;
      for (const RawTensor& gt : (*gf)->tensors()) {
        if (gt.name == "rope_freqs.weight") continue;
        const std::string hn = hf_tensor_name(gt.name);
        ASSERT_TRUE(hf.count(hn)) << gt.name << " -> " << hn;
        const HfTensor& ht = hf.at(hn);
        ASSERT_EQ(ht.shape, gt.shape) << gt.name;
        EXPECT_EQ(ht.dtype, t == DType::F32 ? "F32" : t == DType::F16 ? "F16" : "BF16");
        std::vector<float> gv = dequant(gt);
        const bool qk = gt.name.find("attn_q.") != std::string::npos || gt.name.find("attn_k.") != std::string::npos;
        if (permuted && qk) gv = unpermute(gv, gt.shape[0], gt.shape.size() == 2 ? gt.shape[1] : 1, p.head_dim);
        ASSERT_EQ(gv.size(), ht.values.size());
        size_t bad = 0;
        for (size_t i = 0; i < gv.size(); ++i) bad += gv[i] != ht.values[i];
        EXPECT_EQ(bad, 0u) << gt.name;
        ++compared;
      }
      EXPECT_EQ(compared, hf.size());  // and nothing extra in HF
    }
  }
}

TEST(ModelMaker, EveryTinyPresetAndDtypeLoads) {
  REQUIRE_SHARED();
  TempDir d;
  for (const char* preset : kTiny) {
    const ModelPreset& p = *find_model_preset(preset);
    const ArchInfo* ai = arch_by_key(p.arch);
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0}) {
      SCOPED_TRACE(std::string(preset) + " " + dtype_name(t));
      const std::string path = d / (std::string(preset) + "-" + dtype_name(t) + ".gguf");
      auto cfg = config(preset, t, "gguf", path);
      auto plan = plan_model(cfg);
      ASSERT_TRUE(plan) << plan.message();
      ASSERT_TRUE(make_model(cfg));
      EXPECT_EQ(fs::file_size(path) > plan->total_bytes, true);
      auto f = GgufFile::open(path);
      ASSERT_TRUE(f) << f.message();
      const GgufFile& g = **f;
      // the planned tensors, in order
      ASSERT_EQ(g.tensors().size(), plan->tensors.size());
      for (size_t i = 0; i < plan->tensors.size(); ++i) {
        EXPECT_EQ(g.tensors()[i].name, plan->tensors[i].name);
        EXPECT_EQ(g.tensors()[i].shape, plan->tensors[i].shape);
        EXPECT_EQ(g.tensors()[i].type, plan->tensors[i].type);
      }
      const int64_t V = 512, E = p.n_embd, D = p.head_dim, F = p.n_ff;
      auto shape = [&](const std::string& n) { return g.tensor(n) ? g.tensor(n)->shape : std::vector<int64_t>{}; };
      auto type = [&](const std::string& n) { return g.tensor(n) ? g.tensor(n)->type : DType::U8; };
      EXPECT_EQ(shape("token_embd.weight"), (std::vector<int64_t>{V, E}));
      EXPECT_EQ(type("token_embd.weight"), t);
      EXPECT_EQ(g.tensor("output.weight") != nullptr, !p.tied);
      EXPECT_EQ(g.tensor("rope_freqs.weight") != nullptr, p.rope_factor > 0);
      for (int l = 0; l < p.n_layer; ++l) {
        auto n = [&](const char* w, const char* s = "weight") { return tensor_name(w, l, s); };
        EXPECT_EQ(shape(n("attn_q")), (std::vector<int64_t>{p.n_head * D, E}));
        EXPECT_EQ(shape(n("attn_k")), (std::vector<int64_t>{p.n_head_kv * D, E}));
        EXPECT_EQ(shape(n("attn_v")), (std::vector<int64_t>{p.n_head_kv * D, E}));
        EXPECT_EQ(shape(n("attn_output")), (std::vector<int64_t>{E, p.n_head * D}));
        EXPECT_EQ(shape(n("ffn_gate")), (std::vector<int64_t>{F, E}));
        EXPECT_EQ(shape(n("ffn_up")), (std::vector<int64_t>{F, E}));
        EXPECT_EQ(shape(n("ffn_down")), (std::vector<int64_t>{E, F}));
        EXPECT_EQ(type(n("ffn_down")), t);
        EXPECT_EQ(shape(n("attn_norm")), (std::vector<int64_t>{E}));
        EXPECT_EQ(type(n("attn_norm")), DType::F32);
        EXPECT_EQ(type(n("ffn_norm")), DType::F32);
        EXPECT_EQ(g.tensor(n("attn_q", "bias")) != nullptr, ai->qkv_bias);
        if (ai->qkv_bias) {
          EXPECT_EQ(shape(n("attn_k", "bias")), (std::vector<int64_t>{p.n_head_kv * D}));
          EXPECT_EQ(type(n("attn_v", "bias")), DType::F32);
        }
        EXPECT_EQ(g.tensor(n("attn_q_norm")) != nullptr, ai->qk_norm);
        if (ai->qk_norm) {
          EXPECT_EQ(shape(n("attn_k_norm")), (std::vector<int64_t>{D}));
        }
      }
      EXPECT_EQ(g.get_string("general.architecture"), p.arch);
      const std::string a = p.arch;
      EXPECT_EQ(g.get_int(a + ".embedding_length"), E);
      EXPECT_EQ(g.get_int(a + ".block_count"), p.n_layer);
      EXPECT_EQ(g.get_int(a + ".feed_forward_length"), F);
      EXPECT_EQ(g.get_int(a + ".attention.head_count"), p.n_head);
      EXPECT_EQ(g.get_int(a + ".attention.head_count_kv"), p.n_head_kv);
      EXPECT_EQ(g.get_int(a + ".attention.key_length").has_value(), D * p.n_head != E);
      EXPECT_EQ(g.get_float(a + ".rope.freq_base"), static_cast<double>(p.rope_theta));
      EXPECT_EQ(g.get_string_array("tokenizer.ggml.tokens")->size(), 512u);
      EXPECT_EQ(g.get_int("tokenizer.ggml.bos_token_id"), 1);

      // the engine's model source reads it back with the right hparams
      auto src = ModelSource::open(path);
      ASSERT_TRUE(src) << src.message();
      const HParams& hp = (*src)->hparams();
      EXPECT_EQ(hp.n_vocab, 512);
      EXPECT_EQ(hp.head_dim, D);
      EXPECT_EQ(hp.n_head_kv, p.n_head_kv);
      EXPECT_EQ(hp.tied_embeddings, p.tied);
      EXPECT_EQ(hp.rope_freq_factors.empty(), p.rope_factor == 0);
    }
    // HF form through the engine's source too
    const std::string dir = d / (std::string(preset) + "-hf");
    ASSERT_TRUE(make_model(config(preset, DType::F32, "hf", dir)));
    auto src = ModelSource::open(dir);
    ASSERT_TRUE(src) << src.message();
    const HParams& hp = (*src)->hparams();
    EXPECT_EQ(hp.arch, p.arch);
    EXPECT_EQ(hp.n_vocab, 512);
    EXPECT_EQ(hp.head_dim, p.head_dim);
    EXPECT_EQ(hp.n_ff, p.n_ff);
    EXPECT_EQ(hp.norm_eps, p.norm_eps);
    EXPECT_EQ(hp.rope_theta, p.rope_theta);
    EXPECT_EQ(hp.tied_embeddings, p.tied);
  }
}

TEST(ModelMaker, QuantizedWeightsApproximateF32) {
  REQUIRE_SHARED();
  TempDir d;
  ASSERT_TRUE(make_model(config("tiny-llama", DType::F32, "gguf", d / "f.gguf")));
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    ASSERT_TRUE(make_model(config("tiny-llama", t, "gguf", d / "q.gguf")));
    auto f = GgufFile::open(d / "f.gguf");
    auto q = GgufFile::open(d / "q.gguf");
    ASSERT_TRUE(f && q);
    for (const RawTensor& ft : (*f)->tensors()) {
      const RawTensor* qt = (*q)->tensor(ft.name);
      ASSERT_NE(qt, nullptr);
      const auto a = dequant(ft), b = dequant(*qt);
      double err = 0, norm = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        err += (a[i] - b[i]) * (a[i] - b[i]);
        norm += a[i] * a[i];
      }
      const double rel = std::sqrt(err / norm);
      if (ft.shape.size() == 1) EXPECT_EQ(rel, 0.0) << ft.name;  // norms stay F32
      else EXPECT_LT(rel, t == DType::Q8_0 ? 0.01 : 0.15) << ft.name;
    }
    EXPECT_EQ((*q)->get_int("general.file_type"), t == DType::Q8_0 ? 7 : 2);
  }
}

TEST(ModelMaker, Llama3RopeFreqs) {
  REQUIRE_SHARED();
  TempDir d;
  ASSERT_TRUE(make_model(config("tiny-llama3", DType::F32, "gguf", d / "l3.gguf")));
  auto f = GgufFile::open(d / "l3.gguf");
  ASSERT_TRUE(f);
  const RawTensor* rf = (*f)->tensor("rope_freqs.weight");
  ASSERT_NE(rf, nullptr);
  ASSERT_EQ(rf->type, DType::F32);
  const ModelPreset& p = *find_model_preset("tiny-llama3");
  const auto want = llama3_rope_factors(p.head_dim, p.rope_theta, 8, 1, 4, 64);
  const auto got = dequant(*rf);
  ASSERT_EQ(got, want);
  // all three regimes of the formula appear: 1, factor, and in between
  EXPECT_EQ(got.front(), 1.0f);
  EXPECT_EQ(got.back(), 8.0f);
  EXPECT_TRUE(std::any_of(got.begin(), got.end(), [](float x) { return x > 1.0f && x < 8.0f; }));
  ASSERT_TRUE(make_model(config("tiny-llama3", DType::F32, "hf", d / "l3")));
  auto c = nlohmann::json::parse(read_all(d / "l3/config.json"));
  EXPECT_EQ(c["rope_scaling"]["rope_type"], "llama3");
  EXPECT_EQ(c["rope_scaling"]["original_max_position_embeddings"], 64);
  EXPECT_EQ(c["rope_theta"].get<double>(), 500000.0);
}

TEST(ModelMaker, VocabularySources) {
  REQUIRE_SHARED();
  TempDir d;
  const std::string m = shared_dir() + "/models";
  // llama2.c tokenizer.bin gives the same vocabulary as the GGUF made from it
  auto c1 = config("tiny-llama", DType::F32, "gguf", d / "bin.gguf");
  c1.vocab_from = m + "/stories260K/tok512.bin";
  ASSERT_TRUE(make_model(c1));
  ASSERT_TRUE(make_model(config("tiny-llama", DType::F32, "gguf", d / "gguf.gguf")));
  auto a = GgufFile::open(d / "bin.gguf"), b = GgufFile::open(d / "gguf.gguf");
  ASSERT_TRUE(a && b);
  EXPECT_EQ((*a)->get_string_array("tokenizer.ggml.tokens"), (*b)->get_string_array("tokenizer.ggml.tokens"));
  EXPECT_EQ((*a)->get_int_array("tokenizer.ggml.token_type"), (*b)->get_int_array("tokenizer.ggml.token_type"));
  EXPECT_EQ((*a)->get_float_array("tokenizer.ggml.scores"), (*b)->get_float_array("tokenizer.ggml.scores"));
  // same weights whatever the vocabulary source (same n_vocab)
  EXPECT_EQ(std::memcmp((*a)->tensor("token_embd.weight")->data, (*b)->tensor("token_embd.weight")->data,
                        (*a)->tensor("token_embd.weight")->nbytes),
            0);

  // HF SentencePiece-style tokenizer.json (byte fallback) -> GGUF, and copied to HF
  if (fs::exists(m + "/TinyStories-656K/tokenizer.json")) {
    auto c2 = config("tiny-tied", DType::F32, "gguf", d / "ts.gguf");
    c2.vocab_from = m + "/TinyStories-656K";
    ASSERT_TRUE(make_model(c2));
    auto g = GgufFile::open(d / "ts.gguf");
    ASSERT_TRUE(g);
    EXPECT_EQ((*g)->get_string("tokenizer.ggml.model"), "llama");
    EXPECT_EQ((*g)->get_string_array("tokenizer.ggml.tokens")->size(), 2048u);
    EXPECT_EQ((*g)->get_int("tokenizer.ggml.bos_token_id"), 1);
    EXPECT_EQ((*g)->get_int("tokenizer.ggml.eos_token_id"), 2);
    EXPECT_EQ((*g)->tensor("token_embd.weight")->shape[0], 2048);
    const auto types = *(*g)->get_int_array("tokenizer.ggml.token_type");
    EXPECT_EQ(types[1], 3);  // <|start_story|>: control
    c2.format = "hf";
    c2.out = d / "ts-hf";
    ASSERT_TRUE(make_model(c2));
    EXPECT_EQ(read_all(d / "ts-hf/tokenizer.json"), read_all(m + "/TinyStories-656K/tokenizer.json"));
    auto cfg = nlohmann::json::parse(read_all(d / "ts-hf/config.json"));
    EXPECT_EQ(cfg["vocab_size"], 2048);
    EXPECT_EQ(cfg["bos_token_id"], 1);
  }

  // GGUF SentencePiece vocab -> generated HF tokenizer.json
  ASSERT_TRUE(make_model(config("tiny-llama", DType::F32, "hf", d / "gen-hf")));
  auto tj = nlohmann::json::parse(read_all(d / "gen-hf/tokenizer.json"));
  EXPECT_EQ(tj["model"]["type"], "BPE");
  EXPECT_EQ(tj["model"]["byte_fallback"], true);
  EXPECT_EQ(tj["model"]["vocab"].size(), 512u);
  EXPECT_GT(tj["model"]["merges"].size(), 100u);
  EXPECT_EQ(tj["model"]["vocab"]["<0x0A>"], 13);
  auto tc = nlohmann::json::parse(read_all(d / "gen-hf/tokenizer_config.json"));
  EXPECT_EQ(tc["bos_token"], "<s>");
  EXPECT_EQ(tc["add_bos_token"], true);

  // byte-level BPE GGUF vocab -> HF -> GGUF keeps tokens, merges and the pre-tokenizer
  const std::string gpt2 = m + "/vocab/ggml-vocab-gpt-2.gguf";
  if (fs::exists(gpt2)) {
    auto c3 = config("tiny-qwen2", DType::F32, "hf", d / "gpt2-hf");
    c3.vocab_from = gpt2;
    ASSERT_TRUE(make_model(c3));
    c3.vocab_from = d / "gpt2-hf";
    c3.format = "gguf";
    c3.out = d / "gpt2.gguf";
    ASSERT_TRUE(make_model(c3));
    auto orig = GgufFile::open(gpt2), rt = GgufFile::open(d / "gpt2.gguf");
    ASSERT_TRUE(orig && rt);
    EXPECT_EQ((*rt)->get_string("tokenizer.ggml.model"), "gpt2");
    EXPECT_EQ((*rt)->get_string("tokenizer.ggml.pre"), (*orig)->get_string("tokenizer.ggml.pre"));
    EXPECT_EQ((*rt)->get_string_array("tokenizer.ggml.tokens"), (*orig)->get_string_array("tokenizer.ggml.tokens"));
    EXPECT_EQ((*rt)->get_string_array("tokenizer.ggml.merges"), (*orig)->get_string_array("tokenizer.ggml.merges"));
    EXPECT_EQ((*rt)->get_int("tokenizer.ggml.eos_token_id"), (*orig)->get_int("tokenizer.ggml.eos_token_id"));
  }
}

// A Qwen2-style byte-level tokenizer.json (Split regex + ByteLevel) -> GGUF metadata.
TEST(ModelMaker, ByteLevelHfTokenizerToGguf) {
  REQUIRE_SHARED();
  TempDir d;
  fs::create_directories(d / "qtok");
  const std::string regex =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  nlohmann::json tj = {
      {"version", "1.0"},
      {"added_tokens", {{{"id", 5}, {"content", "<|endoftext|>"}, {"special", true}},
                        {{"id", 6}, {"content", "<|im_start|>"}, {"special", true}},
                        {{"id", 7}, {"content", "<think>"}, {"special", false}}}},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers", nlohmann::json::array({{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}},
                           {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}, {"\u0120", 3}, {"\u0120ab", 4}}},
        {"merges", nlohmann::json::array({nlohmann::json::array({"a", "b"}), nlohmann::json::array({"\u0120", "ab"})})}}}};
  std::ofstream(d / "qtok/tokenizer.json") << tj.dump();
  std::ofstream(d / "qtok/tokenizer_config.json")
      << R"({"bos_token": null, "eos_token": "<|endoftext|>", "chat_template": "{{ messages }}"})";
  auto c = config("tiny-qwen2", DType::Q8_0, "gguf", d / "q.gguf");
  c.vocab_from = d / "qtok";
  ASSERT_TRUE(make_model(c));
  auto g = GgufFile::open(d / "q.gguf");
  ASSERT_TRUE(g) << g.message();
  EXPECT_EQ((*g)->get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ((*g)->get_string("tokenizer.ggml.pre"), "qwen2");
  EXPECT_EQ((*g)->get_string_array("tokenizer.ggml.tokens"),
            (std::vector<std::string>{"a", "b", "ab", "\u0120", "\u0120ab", "<|endoftext|>", "<|im_start|>", "<think>"}));
  EXPECT_EQ((*g)->get_int_array("tokenizer.ggml.token_type"), (std::vector<int64_t>{1, 1, 1, 1, 1, 3, 3, 4}));
  EXPECT_EQ((*g)->get_string_array("tokenizer.ggml.merges"), (std::vector<std::string>{"a b", "\u0120 ab"}));
  EXPECT_EQ((*g)->get_int("tokenizer.ggml.eos_token_id"), 5);
  EXPECT_FALSE((*g)->get_int("tokenizer.ggml.bos_token_id").has_value());
  EXPECT_EQ((*g)->get_string("tokenizer.chat_template"), "{{ messages }}");
  EXPECT_EQ((*g)->tensor("token_embd.weight")->shape, (std::vector<int64_t>{8, 64}));
  // HF output copies the tokenizer files as they are
  c.format = "hf";
  c.dtype = DType::F32;
  c.out = d / "q-hf";
  ASSERT_TRUE(make_model(c));
  EXPECT_EQ(read_all(d / "q-hf/tokenizer.json"), read_all(d / "qtok/tokenizer.json"));
  EXPECT_EQ(read_all(d / "q-hf/tokenizer_config.json"), read_all(d / "qtok/tokenizer_config.json"));
  auto cfg = nlohmann::json::parse(read_all(d / "q-hf/config.json"));
  EXPECT_EQ(cfg["vocab_size"], 8);
  EXPECT_EQ(cfg["eos_token_id"], 5);
  EXPECT_TRUE(cfg["bos_token_id"].is_null());
}

TEST(ModelMaker, Errors) {
  REQUIRE_SHARED();
  TempDir d;
  auto c = config("no-such-preset", DType::F32, "gguf", d / "x.gguf");
  Status s = make_model(c);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("tiny-llama"), std::string::npos) << s.message();  // lists known presets
  c = config("tiny-llama", DType::Q8_0, "hf", d / "x");
  s = make_model(c);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("GGUF-only"), std::string::npos) << s.message();
  c = config("tiny-llama", DType::Q4_K, "gguf", d / "x.gguf");
  EXPECT_FALSE(make_model(c));
  c = config("tiny-llama", DType::F32, "safetensors", d / "x");
  EXPECT_FALSE(make_model(c));
  c = config("tiny-llama", DType::F32, "gguf", d / "x.gguf");
  c.vocab_from = d / "missing.gguf";
  EXPECT_FALSE(make_model(c));
  c = config("qwen2.5-0.5b", DType::F32, "gguf", d / "x.gguf");
  c.vocab_from = "";
  s = make_model(c);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("--vocab-from"), std::string::npos) << s.message();
  c = config("tiny-llama", DType::F32, "gguf", d / "");  // a directory
  EXPECT_FALSE(make_model(c));
  EXPECT_FALSE(fs::exists(d / "x.gguf"));
}

TEST(ModelMaker, BigPresetPlans) {
  REQUIRE_SHARED();
  MakeModelConfig c;
  c.preset = "tinyllama-1.1b";
  c.dtype = DType::Q4_0;
  c.out = "/nonexistent/unused.gguf";
  c.shared_dir = shared_dir();
  if (fs::exists(shared_dir() + "/models/llama2-tokenizer/tokenizer.bin")) {
    auto p = plan_model(c);
    ASSERT_TRUE(p) << p.message();
    EXPECT_EQ(p->n_vocab, 32000);
    EXPECT_EQ(p->tensors.size(), 3u + 22u * 9u);
    EXPECT_EQ(p->tensors.front().shape, (std::vector<int64_t>{32000, 2048}));
    uint64_t params = 0;
    for (const auto& t : p->tensors) {
      int64_t n = 1;
      for (auto x : t.shape) n *= x;
      params += static_cast<uint64_t>(n);
    }
    EXPECT_EQ(params, 1100048384u);  // TinyLlama-1.1B's parameter count
  }
  c.preset = "qwen2.5-0.5b";
  c.vocab_from = shared_dir() + "/models/vocab/ggml-vocab-gpt-2.gguf";
  if (fs::exists(c.vocab_from)) {
    c.format = "hf";
    c.dtype = DType::BF16;
    auto p = plan_model(c);
    ASSERT_TRUE(p) << p.message();
    EXPECT_EQ(p->n_vocab, 50257);
    std::map<std::string, std::vector<int64_t>> shapes;
    for (const auto& t : p->tensors) shapes[t.name] = t.shape;
    EXPECT_EQ(shapes["model.embed_tokens.weight"], (std::vector<int64_t>{50257, 896}));
    EXPECT_EQ(shapes["model.layers.23.self_attn.k_proj.weight"], (std::vector<int64_t>{128, 896}));
    EXPECT_EQ(shapes["model.layers.0.self_attn.q_proj.bias"], (std::vector<int64_t>{896}));
    EXPECT_EQ(shapes["model.layers.0.mlp.down_proj.weight"], (std::vector<int64_t>{896, 4864}));
    EXPECT_EQ(shapes.count("lm_head.weight"), 0u);
    EXPECT_EQ(p->tensors.size(), 2u + 24u * 12u);
  }
}
