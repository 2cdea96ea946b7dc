#include "shardlm/model/model-maker.h"

#include <cmath>
#include <filesystem>
#include <functional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "model/model-maker-vocab.h"
#include "shardlm/core/log.h"
#include "shardlm/kernels/quant.h"
#include "shardlm/model/gguf-writer.h"
#include "shardlm/model/hparams.h"
#include "shardlm/model/model-arch.h"
#include "shardlm/model/safetensors-writer.h"

namespace shardlm {

namespace fs = std::filesystem;

namespace {

// ---- the generator -------------------------------------------------------------------

uint64_t mix64(uint64_t z) {  // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;
// sqrt(3) / 65536: the sum of four 16-bit uniforms, centred, has variance 1 after this.
constexpr float kIrwinHall = static_cast<float>(1.7320508075688772 / 65536.0);

// Element i of one tensor's stream: the sum of four 16-bit uniforms of splitmix64's
// output (Irwin-Hall, n = 4), centred and scaled to unit variance. Integer arithmetic
// and one float multiply: the same bits on every machine.
struct Gen {
  uint64_t key;
  Gen(uint64_t seed, const std::string& name) : key(mix64(seed ^ mix64(fnv1a(name)))) {}
  float operator()(uint64_t i) const {
    const uint64_t h = mix64(key + (i + 1) * kGolden);
    const int64_t sum = static_cast<int64_t>((h & 0xFFFF) + ((h >> 16) & 0xFFFF) + ((h >> 32) & 0xFFFF) + (h >> 48));
    return static_cast<float>(sum - 131070) * kIrwinHall;
  }
};

// ---- the tensors of a model ---------------------------------------------------------

enum class Kind { Linear, Embed, Norm, Bias, RopeFreqs };

struct Spec {
  std::string hf_name, gguf_name;
  std::vector<int64_t> shape;  // HF layout, row-major
  Kind kind;
  float scale = 0;             // std of Linear / Embed
  int layer = -1;
  int perm_heads = 0;          // llama GGUF: Q/K rows permuted within each of this many heads
  int head_dim = 0;
};

std::vector<Spec> model_specs(const ModelPreset& p, int n_vocab) {
  const ArchInfo* ai = arch_by_key(p.arch);
  const bool qkv_bias = ai && ai->qkv_bias, qk_norm = ai && ai->qk_norm;
  const bool permute = ai && ai->gguf_rope == RopeLayout::Adjacent;
  const int64_t E = p.n_embd, F = p.n_ff, D = p.head_dim, Q = int64_t{p.n_head} * D, KV = int64_t{p.n_head_kv} * D;
  std::vector<Spec> s;
  auto inv_sqrt = [](int64_t n) { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(n))); };
  s.push_back({"model.embed_tokens.weight", "token_embd.weight", {n_vocab, E}, Kind::Embed, inv_sqrt(E)});
  if (p.rope_factor > 0) s.push_back({"", "rope_freqs.weight", {D / 2}, Kind::RopeFreqs});
  for (int l = 0; l < p.n_layer; ++l) {
    const std::string h = fmt::format("model.layers.{}.", l), g = fmt::format("blk.{}.", l);
    auto lin = [&](const char* hn, const char* gn, int64_t out, int64_t in, int heads) {
      s.push_back({h + hn + ".weight", g + gn + ".weight", {out, in}, Kind::Linear, inv_sqrt(in), l,
                   permute ? heads : 0, static_cast<int>(D)});
      if (qkv_bias)
        s.push_back({h + hn + ".bias", g + gn + ".bias", {out}, Kind::Bias, 0, l, permute ? heads : 0, static_cast<int>(D)});
    };
    s.push_back({h + "input_layernorm.weight", g + "attn_norm.weight", {E}, Kind::Norm, 0, l});
    lin("self_attn.q_proj", "attn_q", Q, E, p.n_head);
    lin("self_attn.k_proj", "attn_k", KV, E, p.n_head_kv);
    // v is never permuted
    lin("self_attn.v_proj", "attn_v", KV, E, 0);
    s.push_back({h + "self_attn.o_proj.weight", g + "attn_output.weight", {E, Q}, Kind::Linear, inv_sqrt(Q), l});
    if (qk_norm) {
      s.push_back({h + "self_attn.q_norm.weight", g + "attn_q_norm.weight", {D}, Kind::Norm, 0, l});
      s.push_back({h + "self_attn.k_norm.weight", g + "attn_k_norm.weight", {D}, Kind::Norm, 0, l});
    }
    s.push_back({h + "post_attention_layernorm.weight", g + "ffn_norm.weight", {E}, Kind::Norm, 0, l});
    s.push_back({h + "mlp.gate_proj.weight", g + "ffn_gate.weight", {F, E}, Kind::Linear, inv_sqrt(E), l});
    s.push_back({h + "mlp.up_proj.weight", g + "ffn_up.weight", {F, E}, Kind::Linear, inv_sqrt(E), l});
    s.push_back({h + "mlp.down_proj.weight", g + "ffn_down.weight", {E, F}, Kind::Linear, inv_sqrt(F), l});
  }
  s.push_back({"model.norm.weight", "output_norm.weight", {E}, Kind::Norm, 0});
  if (!p.tied) s.push_back({"lm_head.weight", "output.weight", {n_vocab, E}, Kind::Linear, inv_sqrt(E)});
  return s;
}

// GGUF row (or bias element) r of a permuted Q/K -> HF row: h*D + 2j + s <- h*D + s*D/2 + j.
int64_t hf_row_of(const Spec& sp, int64_t r, bool gguf) {
  if (!gguf || sp.perm_heads <= 0) return r;
  const int64_t D = sp.head_dim, h = r / D, w = r % D;
  return h * D + (w % 2) * (D / 2) + w / 2;
}

DType stored_type(const Spec& sp, DType dtype, bool gguf) {
  if (!gguf) return dtype;
  return sp.shape.size() == 2 ? dtype : DType::F32;
}

// The model's numbers: f16/bf16 models hold values exactly representable in that type.
float round_to(DType dtype, float v) {
  if (dtype == DType::F16) return fp16_to_fp32(fp32_to_fp16(v));
  if (dtype == DType::BF16) return bf16_to_fp32(fp32_to_bf16(v));
  return v;
}

float value_of(const Spec& sp, float z) {
  switch (sp.kind) {
    case Kind::Linear: case Kind::Embed: return sp.scale * z;
    case Kind::Norm: return 1.0f + 0.05f * z;
    case Kind::Bias: return 0.1f * z;
    default: return 0.0f;
  }
}

// ---- paths ---------------------------------------------------------------------------

std::string find_shared_file(const MakeModelConfig& cfg, const std::string& rel) {
  std::vector<fs::path> roots;
  if (!cfg.shared_dir.empty()) roots.push_back(fs::path(cfg.shared_dir));
  std::error_code ec;
  auto ancestors = [&](fs::path p) {
    for (int i = 0; i < 8 && !p.empty(); ++i) {
      roots.push_back(p / "shared");
      if (p == p.parent_path()) break;
      p = p.parent_path();
    }
  };
  if (auto exe = fs::read_symlink("/proc/self/exe", ec); !ec) ancestors(exe.parent_path());
  if (auto cwd = fs::current_path(ec); !ec) ancestors(cwd);
  ancestors(fs::path(__FILE__).parent_path());  // src/model -> <repo> -> <repo>/../shared
  for (const auto& r : roots) {
    fs::path f = r / "models" / rel;
    if (fs::is_regular_file(f, ec)) return f.lexically_normal().string();
  }
  return "";
}

double json_float(float f) { return std::stod(fmt::format("{}", f)); }  // shortest decimal of the float

const char* hf_dtype_name(DType t) {
  return t == DType::F16 ? "float16" : t == DType::BF16 ? "bfloat16" : "float32";
}

uint32_t gguf_file_type(DType t) {
  switch (t) {
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
    default: return 0;
  }
}

struct Prepared {
  ModelPlan plan;
  MakerVocab vocab;
  std::vector<Spec> specs;
};

Result<Prepared> prepare(const MakeModelConfig& cfg) {
  const ModelPreset* p = find_model_preset(cfg.preset);
  if (!p) {
    std::string names;
    for (const auto& x : model_presets()) names += std::string(names.empty() ? "" : ", ") + x.name;
    return Status::errorf("unknown preset '{}' (known: {})", cfg.preset, names);
  }
  if (cfg.format != "gguf" && cfg.format != "hf")
    return Status::errorf("unknown format '{}' (gguf or hf)", cfg.format);
  const DType t = cfg.dtype;
  if (t != DType::F32 && t != DType::F16 && t != DType::BF16 && t != DType::Q8_0 && t != DType::Q4_0)
    return Status::errorf("dtype {} is not supported (f32, f16, bf16, q8_0, q4_0)", dtype_name(t));
  if (cfg.format == "hf" && dtype_is_quantized(t))
    return Status::errorf("dtype {} is GGUF-only: Hugging Face output supports f32, f16 and bf16", dtype_name(t));
  if (cfg.out.empty()) return Status::error("no output path (--out)");

  Prepared pr;
  pr.plan.preset = *p;
  std::string vpath = cfg.vocab_from;
  if (vpath.empty()) {
    if (!*p->default_vocab)
      return Status::errorf("preset {} needs a vocabulary: pass --vocab-from (a GGUF, a tokenizer.json or Hugging Face "
                            "directory, or a llama2.c tokenizer .bin)",
                            p->name);
    vpath = find_shared_file(cfg, p->default_vocab);
    if (vpath.empty())
      return Status::errorf("preset {}: the default vocabulary shared/models/{} was not found; pass --vocab-from (a GGUF, "
                            "a tokenizer.json or Hugging Face directory, or a llama2.c tokenizer .bin)",
                            p->name, p->default_vocab);
  }
  auto v = load_maker_vocab(vpath);
  if (!v) return v.status();
  pr.vocab = std::move(v.value());
  pr.plan.vocab_path = vpath;
  pr.plan.n_vocab = pr.vocab.n_vocab();
  const bool gguf = cfg.format == "gguf";
  pr.specs = model_specs(*p, pr.plan.n_vocab);
  for (const auto& sp : pr.specs) {
    const DType st = stored_type(sp, t, gguf);
    const int64_t cols = sp.shape.back();
    const auto info = dtype_info(st);
    if (cols % info->block != 0)
      return Status::errorf("preset {}: tensor {} has rows of {} elements, not a multiple of the {} block ({})", p->name,
                            gguf ? sp.gguf_name : sp.hf_name, cols, info->name, info->block);
    if (!gguf && sp.kind == Kind::RopeFreqs) continue;  // HF computes them from config.json
    int64_t numel = 1;
    for (auto d : sp.shape) numel *= d;
    PlannedTensor pt{gguf ? sp.gguf_name : sp.hf_name, st, sp.shape, dtype_row_bytes(st, numel)};
    pr.plan.total_bytes += pt.nbytes;
    pr.plan.tensors.push_back(std::move(pt));
  }
  return pr;
}

// Produces the bytes of one tensor, row by row, into sink.
Status emit_tensor(const Spec& sp, DType st, DType dtype, bool gguf, uint64_t seed, const ModelPreset& p,
                   const std::function<Status(const void*, size_t)>& sink) {
  std::vector<float> row;
  std::vector<uint8_t> buf;
  if (sp.kind == Kind::RopeFreqs) {
    row = llama3_rope_factors(p.head_dim, p.rope_theta, p.rope_factor, p.rope_low_freq_factor, p.rope_high_freq_factor,
                              p.rope_original_ctx);
    return sink(row.data(), row.size() * 4);
  }
  const Gen gen(seed, sp.hf_name);
  const int64_t cols = sp.shape.back();
  const int64_t rows = sp.shape.size() == 2 ? sp.shape[0] : 1;
  row.resize(static_cast<size_t>(cols));
  buf.resize(dtype_row_bytes(st, cols));
  for (int64_t r = 0; r < rows; ++r) {
    // 1-D tensors permute element-wise (Q/K biases), 2-D ones row-wise.
    const int64_t hf_r = sp.shape.size() == 2 ? hf_row_of(sp, r, gguf) : 0;
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t hf_c = sp.shape.size() == 2 ? c : hf_row_of(sp, c, gguf);
      row[static_cast<size_t>(c)] = round_to(dtype, value_of(sp, gen(static_cast<uint64_t>(hf_r * cols + hf_c))));
    }
    if (!quantize_row(st, row.data(), buf.data(), cols))
      return Status::errorf("cannot store {} as {}", sp.hf_name, dtype_name(st));
    SHARDLM_TRY(sink(buf.data(), buf.size()));
  }
  return Status::ok();
}

Status write_model(const MakeModelConfig& cfg, const Prepared& pr) {
  const ModelPreset& p = pr.plan.preset;
  const bool gguf = cfg.format == "gguf";
  const bool big = pr.plan.total_bytes > (64ull << 20);
  std::error_code ec;
  std::unique_ptr<GgufWriter> gw;
  std::unique_ptr<SafetensorsWriter> sw;
  if (gguf) {
    if (fs::is_directory(cfg.out, ec)) return Status::errorf("{}: is a directory (gguf output is a file)", cfg.out);
    const fs::path parent = fs::path(cfg.out).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    gw = std::make_unique<GgufWriter>();
    const std::string a = p.arch;
    gw->set_string("general.architecture", a);
    gw->set_string("general.name", p.name);
    gw->set_u32(a + ".vocab_size", static_cast<uint32_t>(pr.plan.n_vocab));
    gw->set_u32(a + ".context_length", static_cast<uint32_t>(p.n_ctx));
    gw->set_u32(a + ".embedding_length", static_cast<uint32_t>(p.n_embd));
    gw->set_u32(a + ".block_count", static_cast<uint32_t>(p.n_layer));
    gw->set_u32(a + ".feed_forward_length", static_cast<uint32_t>(p.n_ff));
    gw->set_u32(a + ".attention.head_count", static_cast<uint32_t>(p.n_head));
    gw->set_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(p.n_head_kv));
    if (p.head_dim * p.n_head != p.n_embd) {
      gw->set_u32(a + ".attention.key_length", static_cast<uint32_t>(p.head_dim));
      gw->set_u32(a + ".attention.value_length", static_cast<uint32_t>(p.head_dim));
    }
    gw->set_f32(a + ".attention.layer_norm_rms_epsilon", p.norm_eps);
    gw->set_f32(a + ".rope.freq_base", p.rope_theta);
    gw->set_u32(a + ".rope.dimension_count", static_cast<uint32_t>(p.head_dim));
    gw->set_u32("general.file_type", gguf_file_type(cfg.dtype));
    add_vocab_to_gguf(pr.vocab, *gw);
    for (const auto& t : pr.plan.tensors) SHARDLM_TRY(gw->add_tensor(t.name, t.type, t.shape));
    SHARDLM_TRY(gw->begin(cfg.out));
  } else {
    if (fs::exists(cfg.out, ec) && !fs::is_directory(cfg.out, ec))
      return Status::errorf("{}: exists and is not a directory (hf output is a directory)", cfg.out);
    fs::create_directories(cfg.out, ec);
    if (ec) return Status::errorf("{}: cannot create directory: {}", cfg.out, ec.message());
    SafetensorsOptions opt;
    opt.max_shard_bytes = cfg.max_shard_bytes;
    sw = std::make_unique<SafetensorsWriter>(opt);
    sw->set_metadata("format", "pt");
    for (const auto& t : pr.plan.tensors) SHARDLM_TRY(sw->add_tensor(t.name, t.type, t.shape));
    SHARDLM_TRY(sw->begin(cfg.out));
  }
  auto sink = [&](const void* d, size_t n) { return gguf ? gw->write(d, n) : sw->write(d, n); };
  int last_layer = -1;
  for (const auto& sp : pr.specs) {
    if (!gguf && sp.kind == Kind::RopeFreqs) continue;
    if (big && sp.layer != last_layer && last_layer >= 0)
      LOG_INFO("make-model {}: layer {}/{} written", p.name, last_layer + 1, p.n_layer);
    last_layer = sp.layer;
    SHARDLM_TRY(emit_tensor(sp, stored_type(sp, cfg.dtype, gguf), cfg.dtype, gguf, cfg.seed, p, sink));
  }
  SHARDLM_TRY(gguf ? gw->finish() : sw->finish());
  if (!gguf) {
    nlohmann::ordered_json c;
    const ArchInfo* ai = arch_by_key(p.arch);
    c["architectures"] = {p.hf_arch};
    c["model_type"] = p.hf_model_type;
    c["hidden_size"] = p.n_embd;
    c["intermediate_size"] = p.n_ff;
    c["num_hidden_layers"] = p.n_layer;
    c["num_attention_heads"] = p.n_head;
    c["num_key_value_heads"] = p.n_head_kv;
    c["head_dim"] = p.head_dim;
    c["hidden_act"] = "silu";
    c["max_position_embeddings"] = p.n_ctx;
    c["rms_norm_eps"] = json_float(p.norm_eps);
    c["rope_theta"] = json_float(p.rope_theta);
    if (p.rope_factor > 0) {
      c["rope_scaling"] = {{"rope_type", "llama3"},
                           {"factor", json_float(p.rope_factor)},
                           {"low_freq_factor", json_float(p.rope_low_freq_factor)},
                           {"high_freq_factor", json_float(p.rope_high_freq_factor)},
                           {"original_max_position_embeddings", p.rope_original_ctx}};
    } else {
      c["rope_scaling"] = nullptr;
    }
    c["tie_word_embeddings"] = p.tied;
    c["vocab_size"] = pr.plan.n_vocab;
    c["bos_token_id"] = pr.vocab.bos >= 0 ? nlohmann::ordered_json(pr.vocab.bos) : nlohmann::ordered_json(nullptr);
    c["eos_token_id"] = pr.vocab.eos >= 0 ? nlohmann::ordered_json(pr.vocab.eos) : nlohmann::ordered_json(nullptr);
    c["torch_dtype"] = hf_dtype_name(cfg.dtype);
    if (ai && !ai->qkv_bias) c["attention_bias"] = false;
    if (std::string(p.arch) == "llama") c["mlp_bias"] = false;
    if (std::string(p.hf_model_type) == "mistral") c["sliding_window"] = nullptr;
    if (std::string(p.arch) != "llama") c["use_sliding_window"] = false;
    c["use_cache"] = true;
    const std::string js = c.dump(2) + "\n";
    const std::string path = cfg.out + "/config.json";
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return Status::errorf("{}: cannot create", path);
    const bool ok = std::fwrite(js.data(), 1, js.size(), f) == js.size();
    if (std::fclose(f) != 0 || !ok) return Status::errorf("{}: write failed", path);
    SHARDLM_TRY(write_vocab_hf(pr.vocab, cfg.out, p.n_ctx));
  }
  LOG_INFO("make-model: wrote {} ({} {} {}, {} tensors, {:.1f} MiB, vocab {} from {}, seed {})", cfg.out, p.name,
           dtype_name(cfg.dtype), cfg.format, pr.plan.tensors.size(), pr.plan.total_bytes / 1048576.0,
           pr.plan.n_vocab, pr.plan.vocab_path, cfg.seed);
  return Status::ok();
}

}  // namespace

float maker_normal(uint64_t seed, const std::string& hf_name, uint64_t i) { return Gen(seed, hf_name)(i); }

Result<ModelPlan> plan_model(const MakeModelConfig& cfg) {
  auto pr = prepare(cfg);
  if (!pr) return pr.status();
  return std::move(pr.value().plan);
}

Status make_model(const MakeModelConfig& cfg) {
  auto pr = prepare(cfg);
  if (!pr) return pr.status().with_context("make-model");
  try {
    return write_model(cfg, *pr).with_context("make-model");
  } catch (const std::exception& e) {  // filesystem / JSON: never across the API
    return Status::errorf("make-model: {}", e.what());
  }
}

}  // namespace shardlm
