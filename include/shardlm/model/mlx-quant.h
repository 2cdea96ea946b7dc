// MLX affine quantization (the layout mlx-lm's `convert --quantize` writes, as in the
// mlx-community "-4bit" / "-8bit" repositories): reading config.json's block and
// dequantizing a module to float32.
//
// A quantized module <m> with weight [out, in] is stored as
//   <m>.weight  U32 [out, in*bits/32]  codes q in [0, 2^bits - 1], each row a
//               little-endian bit stream: code j in stream bits j*bits .. j*bits+bits-1,
//               stream bit b = bit (b % 32) of word b / 32 (so 4 bits: the first code
//               is the low nibble of the first word; 3/5/6 bits straddle words)
//   <m>.scales  F16/BF16/F32 [out, in/group_size]
//   <m>.biases  same dtype and shape
// and w[r, j] = scales[r, j/gs] * q[r, j] + biases[r, j/gs] (scales may be negative).
// config.json: "quantization": {"group_size": 64, "bits": 4[, "mode": "affine"]}
// (a missing mode means affine), plus optional per-module entries
// "<module path>": {"group_size", "bits"[, "mode"]} or true/false; mlx-lm also writes an
// identical "quantization_config". Which modules are quantized is told by the
// checkpoint: `<m>.scales` present. A "quantization_config" carrying "quant_method"
// (GPTQ, AWQ, bitsandbytes, ...) is not MLX and is refused.
// Pure functions: callable from any thread. Used by the HF source (source-hf.cpp) when
// the checkpoint is opened: 4-bit modules with group sizes that are multiples of 32
// become GGML Q4_1 blocks with the same codes (exact: a Q4_1 block is d*q + m, q in
// 0..15, with d and m in f16); other widths are dequantized and stored as F16.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shardlm/core/status.h"
#include "shardlm/model/tensor-source.h"

namespace shardlm {

struct MlxQuantSpec {
  int group_size = 64;          // elements per (scale, bias) group along the input dim
  int bits = 4;                 // 2, 3, 4, 5, 6 or 8
};

struct MlxQuantization {
  MlxQuantSpec global;
  // Per-module overrides: a spec, or nullopt for `false` (not quantized). `true`
  // entries are not stored (they mean the global spec).
  std::map<std::string, std::optional<MlxQuantSpec>> modules;
  // The spec of a module (the override, else the global one); nullopt if `false`.
  std::optional<MlxQuantSpec> spec_of(const std::string& module) const;
};

// The MLX quantization of a parsed config.json: nullopt when it has none; an error
// for unsupported modes, non-MLX quantization_config, or malformed entries.
Result<std::optional<MlxQuantization>> parse_mlx_quantization(const nlohmann::json& config);

// Code j of a packed row (words: the row's uint32s, read little-endian; any alignment).
uint32_t mlx_code(const uint8_t* words, int64_t j, int bits);

// Dequantizes module `name` to float32 [out, in] (computed exactly in double, rounded
// once). Checks the dtypes (weight U32; scales/biases F16, BF16 or F32, the same) and
// that the shapes agree with group_size and bits; errors name the module.
Result<std::vector<float>> mlx_dequantize(const std::string& name, const RawTensor& weight, const RawTensor& scales,
                                          const RawTensor& biases, const MlxQuantSpec& spec);

// Re-encodes a 4-bit module (group size a multiple of 32) as GGML Q4_1 rows ([out,
// in/32] blocks of 20 bytes: f16 d = scale, f16 m = bias, codes unchanged). An error
// when the module is not 4-bit, or a scale or bias is not exactly representable in
// f16 (BF16/F32 scales out of f16's range or precision): callers fall back to F16.
Result<std::vector<uint8_t>> mlx_to_q4_1(const std::string& name, const RawTensor& weight, const RawTensor& scales,
                                         const RawTensor& biases, const MlxQuantSpec& spec);

}  // namespace shardlm
