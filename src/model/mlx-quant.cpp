#include "shardlm/model/mlx-quant.h"

#include <cstring>

#include "shardlm/kernels/quant.h"

namespace shardlm {

namespace {

using json = nlohmann::json;

bool supported_bits(int b) { return b == 2 || b == 3 || b == 4 || b == 5 || b == 6 || b == 8; }

// Reads {"group_size", "bits", "mode"} over the defaults in `base`.
Result<MlxQuantSpec> read_spec(const json& j, const MlxQuantSpec& base, const std::string& where) {
  MlxQuantSpec s = base;
  auto geti = [&](const char* k, int& out) -> Status {
    if (!j.contains(k)) return Status::ok();
    if (!j[k].is_number_integer()) return Status::errorf("{}: '{}' must be an integer", where, k);
    const int64_t v = j[k].get<int64_t>();
    if (v <= 0 || v > (1 << 20)) return Status::errorf("{}: '{}' = {} out of range", where, k, v);
    out = static_cast<int>(v);
    return Status::ok();
  };
  SHARDLM_TRY(geti("group_size", s.group_size));
  SHARDLM_TRY(geti("bits", s.bits));
  if (j.contains("mode")) {
    if (!j["mode"].is_string()) return Status::errorf("{}: 'mode' must be a string", where);
    const std::string mode = j["mode"].get<std::string>();
    if (mode != "affine")
      return Status::errorf("{}: MLX quantization mode '{}' is not supported (affine only)", where, mode);
  }
  if (!supported_bits(s.bits))
    return Status::errorf("{}: {} bits is not supported (MLX affine: 2, 3, 4, 5, 6, 8)", where, s.bits);
  return s;
}

}  // namespace

std::optional<MlxQuantSpec> MlxQuantization::spec_of(const std::string& module) const {
  auto it = modules.find(module);
  if (it == modules.end()) return global;
  return it->second;
}

Result<std::optional<MlxQuantization>> parse_mlx_quantization(const json& c) {
  try {
    const json* q = nullptr;
    if (c.contains("quantization") && !c["quantization"].is_null()) {
      q = &c["quantization"];
    } else if (c.contains("quantization_config") && !c["quantization_config"].is_null()) {
      const json& qc = c["quantization_config"];
      if (!qc.is_object() || qc.contains("quant_method") || !qc.contains("bits")) {
        std::string method = qc.is_object() && qc.contains("quant_method") && qc["quant_method"].is_string()
                                 ? qc["quant_method"].get<std::string>()
                                 : std::string("unknown");
        return Status::errorf(
            "quantization_config (quant_method '{}') is not supported: only MLX affine quantization is", method);
      }
      q = &qc;
    } else {
      return std::optional<MlxQuantization>{};
    }
    if (!q->is_object()) return Status::error("'quantization' must be an object");
    MlxQuantization mq;
    auto g = read_spec(*q, MlxQuantSpec{}, "quantization");
    if (!g) return g.status();
    mq.global = *g;
    for (auto it = q->begin(); it != q->end(); ++it) {
      const std::string& k = it.key();
      if (k == "group_size" || k == "bits" || k == "mode") continue;
      if (it->is_boolean()) {
        if (!it->get<bool>()) mq.modules[k] = std::nullopt;
      } else if (it->is_object()) {
        auto s = read_spec(*it, mq.global, "quantization." + k);
        if (!s) return s.status();
        mq.modules[k] = *s;
      } else {
        return Status::errorf("quantization entry '{}' is not supported (expected an object or a boolean)", k);
      }
    }
    return std::optional<MlxQuantization>(std::move(mq));
  } catch (const std::exception& e) {
    return Status::errorf("quantization block: {}", e.what());
  }
}

uint32_t mlx_code(const uint8_t* words, int64_t j, int bits) {
  // The stream is little-endian across words, so it is little-endian across bytes too:
  // read the (at most 2) bytes holding the code's bits.
  const int64_t bit = j * bits;
  const int64_t byte = bit / 8;
  const int shift = static_cast<int>(bit % 8);
  uint32_t v = words[byte];
  if (shift + bits > 8) v |= static_cast<uint32_t>(words[byte + 1]) << 8;
  return (v >> shift) & ((1u << bits) - 1u);
}

namespace {
struct ModuleDims {
  int64_t rows, words, groups, n_in;
};
// Checks the dtypes and that the shapes agree with group_size and bits.
Result<ModuleDims> check_module(const std::string& name, const RawTensor& w, const RawTensor& s, const RawTensor& b,
                                const MlxQuantSpec& spec) {
  auto bad = [&](const std::string& what) { return Status::errorf("{}: MLX quantized module '{}': {}", w.file, name, what); };
  if (!supported_bits(spec.bits)) return bad(fmt::format("{} bits is not supported", spec.bits));
  if (spec.group_size <= 0) return bad("group_size must be positive");
  if (w.type != DType::U32) return bad(fmt::format("weight has type {}, expected U32", dtype_name(w.type)));
  if (s.type != b.type) return bad("scales and biases have different types");
  if (s.type != DType::F16 && s.type != DType::BF16 && s.type != DType::F32)
    return bad(fmt::format("scales have type {}, expected F16, BF16 or F32", dtype_name(s.type)));
  if (w.shape.size() != 2 || s.shape.size() != 2 || s.shape != b.shape)
    return bad("weight, scales and biases must be 2-D, scales and biases of one shape");
  const int64_t rows = w.shape[0], words = w.shape[1], groups = s.shape[1];
  const int64_t n_in = groups * spec.group_size;
  auto shape_str = [](const std::vector<int64_t>& v) { return fmt::format("[{}, {}]", v[0], v[1]); };
  if (s.shape[0] != rows || words * 32 != n_in * spec.bits)
    return bad(fmt::format("shapes do not agree with {} bits, group size {}: weight {}, scales {}", spec.bits,
                           spec.group_size, shape_str(w.shape), shape_str(s.shape)));
  return ModuleDims{rows, words, groups, n_in};
}

// fn(r, scales, biases, codes) for every row: the row's group scales and biases as
// floats and its packed code words.
template <class F>
void for_each_row(const RawTensor& w, const RawTensor& s, const RawTensor& b, const ModuleDims& d, F fn) {
  std::vector<float> sc(static_cast<size_t>(d.groups)), bi(static_cast<size_t>(d.groups));
  const size_t srow = dtype_row_bytes(s.type, d.groups);
  for (int64_t r = 0; r < d.rows; ++r) {
    dequantize_row(s.type, s.data + r * srow, sc.data(), d.groups);
    dequantize_row(b.type, b.data + r * srow, bi.data(), d.groups);
    if (!fn(r, sc.data(), bi.data(), w.data + r * d.words * 4)) return;
  }
}
}  // namespace

Result<std::vector<float>> mlx_dequantize(const std::string& name, const RawTensor& w, const RawTensor& s,
                                          const RawTensor& b, const MlxQuantSpec& spec) {
  auto dims = check_module(name, w, s, b, spec);
  if (!dims) return dims.status();
  const auto [rows, words, groups, n_in] = *dims;
  std::vector<float> out(static_cast<size_t>(rows * n_in));
  for_each_row(w, s, b, *dims, [&](int64_t r, const float* sc, const float* bi, const uint8_t* row) {
    float* y = out.data() + r * n_in;
    for (int64_t j = 0; j < n_in; ++j) {
      const int64_t g = j / spec.group_size;
      y[j] = static_cast<float>(static_cast<double>(sc[g]) * mlx_code(row, j, spec.bits) + static_cast<double>(bi[g]));
    }
    return true;
  });
  return out;
}

Result<std::vector<uint8_t>> mlx_to_q4_1(const std::string& name, const RawTensor& w, const RawTensor& s,
                                         const RawTensor& b, const MlxQuantSpec& spec) {
  auto dims = check_module(name, w, s, b, spec);
  if (!dims) return dims.status();
  const auto [rows, words, groups, n_in] = *dims;
  if (spec.bits != 4 || spec.group_size % 32 != 0)
    return Status::errorf("MLX module '{}': {} bits, group size {} has no exact Q4_1 form", name, spec.bits,
                          spec.group_size);
  const int64_t blocks = n_in / 32;
  constexpr size_t kBlock = 20;  // f16 d, f16 m, u8 qs[16]
  std::vector<uint8_t> out(static_cast<size_t>(rows * blocks) * kBlock);
  Status bad = Status::ok();
  for_each_row(w, s, b, *dims, [&](int64_t r, const float* sc, const float* bi, const uint8_t* row) {
    for (int64_t k = 0; k < blocks; ++k) {
      const int64_t g = k * 32 / spec.group_size;
      const uint16_t d = fp32_to_fp16(sc[g]), m = fp32_to_fp16(bi[g]);
      if (fp16_to_fp32(d) != sc[g] || fp16_to_fp32(m) != bi[g]) {
        bad = Status::errorf("MLX module '{}': scale {} or bias {} (row {}) is not exact in f16", name, sc[g], bi[g], r);
        return false;
      }
      uint8_t* blk = out.data() + static_cast<size_t>(r * blocks + k) * kBlock;
      std::memcpy(blk, &d, 2);
      std::memcpy(blk + 2, &m, 2);
      for (int j = 0; j < 16; ++j)
        blk[4 + j] = static_cast<uint8_t>(mlx_code(row, k * 32 + j, 4) | mlx_code(row, k * 32 + j + 16, 4) << 4);
    }
    return true;
  });
  if (!bad) return bad;
  return out;
}

}  // namespace shardlm
