#include "shardlm/model/model-quantize.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "model/model-maker-vocab.h"
#include "shardlm/core/log.h"
#include "shardlm/core/mmap.h"
#include "shardlm/core/thread-pool.h"
#include "shardlm/kernels/quant.h"
#include "shardlm/model/gguf-writer.h"
#include "shardlm/model/gguf.h"
#include "shardlm/model/model-arch.h"
#include "shardlm/model/model-source.h"

namespace shardlm {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

// "blk.12.attn_v.weight" -> 12; -1 for global tensors.
int layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  int v = 0;
  size_t i = 4;
  if (i >= name.size() || !std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
  for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i) v = v * 10 + (name[i] - '0');
  return v;
}

bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

bool fits(DType t, int64_t cols) { return cols % dtype_info(t)->block == 0; }

bool is_float_or_quant(DType t) { return can_dequantize(t); }

// One output tensor: where its rows come from and what they become.
struct Job {
  std::string name;
  const RawTensor* src = nullptr;
  std::vector<int64_t> shape;  // row-major
  DType out = DType::F32;
  int perm_head_dim = 0;       // > 0: Q/K rows (or bias elements) permuted halves -> interleaved
};

// GGUF row (or element) r of a permuted Q/K -> source row: h*D + 2j + s <- h*D + s*D/2 + j.
int64_t src_row(int64_t r, int D) {
  if (D <= 0) return r;
  const int64_t h = r / D, w = r % D;
  return h * D + (w % 2) * (D / 2) + w / 2;
}

// ---- the input ------------------------------------------------------------------------

struct Input {
  std::string format;                          // "gguf", "hf", "llama2c"
  std::shared_ptr<MappedFile> map;             // gguf
  std::unique_ptr<GgufFile> gguf;              // gguf
  std::unique_ptr<ModelSource> src;            // hf, llama2c
  void release(const RawTensor& t) const {
    if (map && t.data >= map->data() && t.data < map->data() + map->size())
      map->release(static_cast<size_t>(t.data - map->data()), t.nbytes);
    else if (src)
      src->release(t);
  }
};

bool is_dir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<Input> open_input(const QuantizeConfig& cfg) {
  Input in;
  if (!is_dir(cfg.in) && !ends_with(cfg.in, ".bin")) {
    auto m = MappedFile::open(cfg.in);
    if (!m) return m.status();
    in.map = std::move(m.value());
    auto g = GgufFile::parse(in.map->data(), in.map->size(), cfg.in);
    if (!g) return g.status();
    in.gguf = std::move(g.value());
    in.format = "gguf";
    return in;
  }
  auto s = ModelSource::open(cfg.in, cfg.tokenizer);
  if (!s) return s.status();
  in.src = std::move(s.value());
  in.format = in.src->format();
  return in;
}

// Metadata and tensor list of a GGUF input: copied.
Status plan_from_gguf(const Input& in, const QuantFileType& ft, GgufWriter& w, std::vector<Job>& jobs) {
  const GgufFile& g = *in.gguf;
  if (auto a = g.find("general.architecture")) w.set("general.architecture", *a);
  for (const auto& [k, v] : g.metadata()) {
    if (k == "general.alignment" || k.rfind("split.", 0) == 0) continue;
    w.set(k, v);
  }
  w.set_u32("general.quantization_version", 2);
  w.set_u32("general.file_type", ft.ftype);
  for (const auto& t : g.tensors()) jobs.push_back({t.name, &t, t.shape, DType::F32, 0});
  return Status::ok();
}

// Metadata and tensors of an HF / llama2.c input: built like make-model's GGUF output.
Status plan_from_source(const Input& in, const QuantFileType& ft, GgufWriter& w, std::vector<Job>& jobs) {
  const ModelSource& src = *in.src;
  const HParams& h = src.hparams();
  const ArchInfo* ai = arch_by_key(h.arch);
  if (!ai) return Status::errorf("{}: architecture '{}' has no GGUF form", src.path(), h.arch);
  auto v = load_maker_vocab(src.tokenizer_path());
  if (!v) return v.status().with_context("tokenizer");
  MakerVocab vocab = std::move(v.value());
  if (vocab.n_vocab() > h.n_vocab)
    return Status::errorf("{}: the tokenizer has {} tokens but the embedding only {} rows", src.path(),
                          vocab.n_vocab(), h.n_vocab);
  if (vocab.n_vocab() < h.n_vocab) {
    LOG_INFO("quantize: padding the token list from {} to {} entries ([PAD<id>], unused)", vocab.n_vocab(), h.n_vocab);
    for (int id = vocab.n_vocab(); id < h.n_vocab; ++id) {
      vocab.tokens.push_back(fmt::format("[PAD{}]", id));
      if (!vocab.scores.empty()) vocab.scores.push_back(-1000.0f);
      vocab.types.push_back(kTokUnused);
    }
  }
  const std::string a = h.arch;
  w.set_string("general.architecture", a);
  w.set_string("general.name", h.name);
  w.set_u32(a + ".vocab_size", static_cast<uint32_t>(h.n_vocab));
  w.set_u32(a + ".context_length", static_cast<uint32_t>(h.n_ctx_train));
  w.set_u32(a + ".embedding_length", static_cast<uint32_t>(h.n_embd));
  w.set_u32(a + ".block_count", static_cast<uint32_t>(h.n_layer));
  w.set_u32(a + ".feed_forward_length", static_cast<uint32_t>(h.n_ff));
  w.set_u32(a + ".attention.head_count", static_cast<uint32_t>(h.n_head));
  w.set_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(h.n_head_kv));
  if (h.head_dim * h.n_head != h.n_embd) {
    w.set_u32(a + ".attention.key_length", static_cast<uint32_t>(h.head_dim));
    w.set_u32(a + ".attention.value_length", static_cast<uint32_t>(h.head_dim));
  }
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", h.norm_eps);
  w.set_f32(a + ".rope.freq_base", h.rope_theta);
  w.set_u32(a + ".rope.dimension_count", static_cast<uint32_t>(h.rope_dim));
  if (h.rope_linear_factor != 1.0f) {
    w.set_string(a + ".rope.scaling.type", "linear");
    w.set_f32(a + ".rope.scaling.factor", h.rope_linear_factor);
  }
  w.set_u32("general.quantization_version", 2);
  w.set_u32("general.file_type", ft.ftype);
  add_vocab_to_gguf(vocab, w);

  const bool permute = h.rope_layout == RopeLayout::Halves && ai->gguf_rope == RopeLayout::Adjacent;
  auto add = [&](const std::string& name, int perm = 0) -> Status {
    const RawTensor* t = src.tensor(name);
    if (!t) return Status::errorf("{}: missing tensor '{}'", src.path(), name);
    jobs.push_back({name, t, t->shape, DType::F32, permute ? perm : 0});
    return Status::ok();
  };
  SHARDLM_TRY(add(tensor_name("token_embd")));
  for (int l = 0; l < h.n_layer; ++l) {
    SHARDLM_TRY(add(tensor_name("attn_norm", l)));
    SHARDLM_TRY(add(tensor_name("attn_q", l), h.head_dim));
    SHARDLM_TRY(add(tensor_name("attn_k", l), h.head_dim));
    SHARDLM_TRY(add(tensor_name("attn_v", l)));
    if (h.qkv_bias) {
      SHARDLM_TRY(add(tensor_name("attn_q", l, "bias"), h.head_dim));
      SHARDLM_TRY(add(tensor_name("attn_k", l, "bias"), h.head_dim));
      SHARDLM_TRY(add(tensor_name("attn_v", l, "bias")));
    }
    SHARDLM_TRY(add(tensor_name("attn_output", l)));
    if (h.qk_norm) {
      SHARDLM_TRY(add(tensor_name("attn_q_norm", l)));
      SHARDLM_TRY(add(tensor_name("attn_k_norm", l)));
    }
    SHARDLM_TRY(add(tensor_name("ffn_norm", l)));
    SHARDLM_TRY(add(tensor_name("ffn_gate", l)));
    SHARDLM_TRY(add(tensor_name("ffn_up", l)));
    SHARDLM_TRY(add(tensor_name("ffn_down", l)));
  }
  SHARDLM_TRY(add(tensor_name("output_norm")));
  if (!h.tied_embeddings) SHARDLM_TRY(add(tensor_name("output")));
  return Status::ok();
}

// ---- conversion -----------------------------------------------------------------------

struct Stats {
  double err2 = 0, norm2 = 0;
};

// Writes one tensor's bytes in its output type; returns the relative RMS error of the
// re-encoding (0 for byte copies, NaN for tensors not converted through float).
Result<double> convert_tensor(const Job& j, GgufWriter& w, ThreadPool& pool) {
  const RawTensor& t = *j.src;
  const bool one_d = j.shape.size() < 2;
  const int64_t cols = one_d ? t.numel() : t.cols();
  const int64_t rows = one_d ? 1 : t.rows();
  const size_t in_row = dtype_row_bytes(t.type, cols), out_row = dtype_row_bytes(j.out, cols);
  // Same type, same order: the bytes as they are.
  if (t.type == j.out && (j.perm_head_dim == 0 || !one_d)) {
    const int D = j.perm_head_dim;
    if (D == 0) {
      SHARDLM_TRY(w.write(t.data, t.nbytes));
    } else {
      for (int64_t r = 0; r < rows; ++r) SHARDLM_TRY(w.write(t.data + src_row(r, D) * in_row, in_row));
    }
    return 0.0;
  }
  if (!is_float_or_quant(t.type))
    return Status::errorf("{}: tensor '{}' has type {}, which cannot be converted to {}", t.file, t.name,
                          dtype_name(t.type), dtype_name(j.out));
  if (one_d) {  // small: whole vector, element-wise permutation
    std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(cols));
    if (!dequantize_row(t.type, t.data, x.data(), cols)) return Status::errorf("{}: cannot read", t.name);
    for (int64_t i = 0; i < cols; ++i) y[i] = x[src_row(i, j.perm_head_dim)];
    std::vector<uint8_t> b(out_row);
    if (!quantize_row(j.out, y.data(), b.data(), cols)) return Status::errorf("{}: cannot encode", t.name);
    SHARDLM_TRY(w.write(b.data(), b.size()));
    return std::nan("");
  }
  const int64_t chunk_rows =
      std::max<int64_t>(1, std::min<int64_t>(rows, (int64_t{32} << 20) / static_cast<int64_t>(std::max(out_row, in_row))));
  std::vector<uint8_t> obuf(static_cast<size_t>(chunk_rows) * out_row);
  std::vector<Stats> stats(static_cast<size_t>(pool.size()));
  std::atomic<bool> failed{false};
  for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
    const int64_t n = std::min(chunk_rows, rows - r0);
    pool.parallel_for(n, 1, [&](int64_t b, int64_t e, int tid) {
      std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(cols));
      Stats& st = stats[static_cast<size_t>(tid)];
      for (int64_t i = b; i < e; ++i) {
        const int64_t sr = src_row(r0 + i, j.perm_head_dim);
        uint8_t* o = obuf.data() + i * out_row;
        if (!dequantize_row(t.type, t.data + sr * in_row, x.data(), cols) || !quantize_row(j.out, x.data(), o, cols) ||
            !dequantize_row(j.out, o, y.data(), cols)) {
          failed = true;
          return;
        }
        for (int64_t c = 0; c < cols; ++c) {
          const double d = static_cast<double>(x[c]) - y[c];
          st.err2 += d * d;
          st.norm2 += static_cast<double>(x[c]) * x[c];
        }
      }
    });
    if (failed) return Status::errorf("{}: cannot convert {} rows of {} to {}", t.name, dtype_name(t.type), cols, dtype_name(j.out));
    SHARDLM_TRY(w.write(obuf.data(), static_cast<size_t>(n) * out_row));
  }
  double e2 = 0, n2 = 0;
  for (const auto& s : stats) {
    e2 += s.err2;
    n2 += s.norm2;
  }
  return n2 > 0 ? std::sqrt(e2 / n2) : 0.0;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r;
  for (auto d : s) r += (r.empty() ? "" : " x ") + std::to_string(d);
  return r;
}

Status run(const QuantizeConfig& cfg) {
  const QuantFileType* ft = find_quant_file_type(cfg.type);
  if (!ft) {
    std::string names;
    for (const auto& f : quant_file_types()) names += std::string(names.empty() ? "" : ", ") + f.name;
    return Status::errorf("unknown type '{}' (known: {})", cfg.type, names);
  }
  if (cfg.out.empty()) return Status::error("no output path");
  std::error_code ec;
  if (fs::exists(cfg.out, ec) && fs::equivalent(cfg.in, cfg.out, ec))
    return Status::errorf("{}: the output must not be the input", cfg.out);
  if (fs::is_directory(cfg.out, ec)) return Status::errorf("{}: is a directory (the output is a .gguf file)", cfg.out);

  auto r_in = open_input(cfg);
  if (!r_in) return r_in.status();
  Input& in = r_in.value();
  GgufWriter w;
  std::vector<Job> jobs;
  SHARDLM_TRY(in.format == "gguf" ? plan_from_gguf(in, *ft, w, jobs) : plan_from_source(in, *ft, w, jobs));

  // Types by the rule; n_layer and has_output from the tensor names.
  int n_layer = 0;
  bool has_output = false, requant = false;
  for (const auto& j : jobs) {
    n_layer = std::max(n_layer, layer_of(j.name) + 1);
    has_output = has_output || j.name == "output.weight";
  }
  uint64_t in_bytes = 0, out_bytes = 0;
  for (auto& j : jobs) {
    const DType st = j.src->type;
    j.out = can_dequantize(st) ? quant_tensor_type(*ft, j.name, j.shape, n_layer, has_output, cfg.pure) : st;
    if (dtype_is_quantized(st) && dtype_is_quantized(j.out) && st != j.out) requant = true;
    SHARDLM_TRY(w.add_tensor(j.name, j.out, j.shape));
    in_bytes += j.src->nbytes;
    out_bytes += w.tensor_nbytes(w.n_tensors() - 1);
  }
  if (requant)
    LOG_WARN("quantize: {} already holds quantized weights; re-encoding them adds a second rounding error", cfg.in);
  const fs::path parent = fs::path(cfg.out).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  SHARDLM_TRY(w.begin(cfg.out));

  int threads = cfg.threads > 0 ? cfg.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ThreadPool pool(threads);
  LOG_INFO("quantize: {} ({}, {} tensors, {:.1f} MiB) -> {} as {}{} with {} threads", cfg.in, in.format, jobs.size(),
           in_bytes / 1048576.0, cfg.out, ft->name, cfg.pure ? " (pure)" : "", threads);
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& j = jobs[i];
    auto err = convert_tensor(j, w, pool);
    if (!err) return err.status();
    const double mib_in = j.src->nbytes / 1048576.0, mib_out = w.tensor_nbytes(i) / 1048576.0;
    const std::string e = std::isnan(*err) || (j.src->type == j.out && j.perm_head_dim == 0)
                              ? std::string()
                              : fmt::format(", rel rms err {:.4f}", *err);
    LOG_INFO("[{:>4}/{}] {:<28} {:>16} {:>5} -> {:<5} {:9.3f} -> {:9.3f} MiB{}", i + 1, jobs.size(), j.name,
             shape_str(j.shape), dtype_name(j.src->type), dtype_name(j.out), mib_in, mib_out, e);
    in.release(*j.src);
  }
  SHARDLM_TRY(w.finish());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double n_weights = 0;
  for (const auto& j : jobs) n_weights += static_cast<double>(j.src->numel());
  const double bpw = n_weights > 0 ? 8.0 * static_cast<double>(out_bytes) / n_weights : 0.0;
  LOG_INFO("quantize: wrote {} ({}: {:.1f} MiB -> {:.1f} MiB, {:.2f} bits per weight) in {:.1f} s", cfg.out, ft->name,
           in_bytes / 1048576.0, out_bytes / 1048576.0, bpw, secs);
  return Status::ok();
}

}  // namespace

const std::vector<QuantFileType>& quant_file_types() {
  static const std::vector<QuantFileType> t = {
      {"F32", DType::F32, 0, QuantMix::None},       {"F16", DType::F16, 1, QuantMix::None},
      {"BF16", DType::BF16, 32, QuantMix::None},    {"Q8_0", DType::Q8_0, 7, QuantMix::None},
      {"Q4_0", DType::Q4_0, 2, QuantMix::None},     {"Q4_1", DType::Q4_1, 3, QuantMix::None},
      {"Q5_0", DType::Q5_0, 8, QuantMix::None},     {"Q5_1", DType::Q5_1, 9, QuantMix::None},
      {"Q4_K_S", DType::Q4_K, 14, QuantMix::Small}, {"Q4_K_M", DType::Q4_K, 15, QuantMix::Medium},
      {"Q5_K_S", DType::Q5_K, 16, QuantMix::Small}, {"Q5_K_M", DType::Q5_K, 17, QuantMix::Medium},
      {"Q6_K", DType::Q6_K, 18, QuantMix::None},
  };
  return t;
}

const QuantFileType* find_quant_file_type(std::string_view name) {
  std::string up;
  for (char c : name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (up == "Q4_K") up = "Q4_K_M";
  if (up == "Q5_K") up = "Q5_K_M";
  for (const auto& f : quant_file_types())
    if (up == f.name) return &f;
  return nullptr;
}

DType quant_tensor_type(const QuantFileType& ft, const std::string& name, const std::vector<int64_t>& shape,
                        int n_layer, bool has_output, bool pure) {
  if (shape.size() < 2 || !ends_with(name, ".weight")) return DType::F32;
  DType t = ft.base;
  if (!dtype_is_quantized(t)) return t;
  const int64_t cols = shape.back();
  if (!pure) {
    const int layer = layer_of(name);
    if (name == "output.weight" || (!has_output && name == "token_embd.weight")) {
      if (!fits(t, cols)) t = DType::Q8_0;
      else if (t != DType::Q8_0) t = DType::Q6_K;
    } else if (name.find("attn_v.weight") != std::string::npos && layer >= 0) {
      if (ft.mix == QuantMix::Medium && use_more_bits(layer, n_layer)) t = DType::Q6_K;
      else if (ft.mix == QuantMix::Small && t == DType::Q4_K && layer < 4) t = DType::Q5_K;
    } else if (name.find("ffn_down") != std::string::npos && layer >= 0) {
      if (ft.mix == QuantMix::Medium && use_more_bits(layer, n_layer)) t = DType::Q6_K;
      else if (ft.mix == QuantMix::Small && t == DType::Q4_K && layer < n_layer / 8) t = DType::Q5_K;
    }
  }
  if (!fits(t, cols)) {
    switch (t) {
      case DType::Q4_K: t = DType::Q5_0; break;
      case DType::Q5_K: t = DType::Q5_1; break;
      case DType::Q6_K: t = DType::Q8_0; break;
      default: t = DType::F16; break;
    }
    if (!fits(t, cols)) t = DType::F16;
  }
  return t;
}

Status quantize_model(const QuantizeConfig& cfg) {
  try {
    return run(cfg).with_context("quantize");
  } catch (const std::exception& e) {  // filesystem and the like: never across the API
    return Status::errorf("quantize: {}", e.what());
  }
}

}  // namespace shardlm
