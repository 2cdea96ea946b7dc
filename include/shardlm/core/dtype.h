// Tensor element types. Numbering follows GGML's type ids so GGUF files map 1:1.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shardlm {

enum class DType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, BF16 = 30,
  // Not GGML types: safetensors-only.
  U32 = 1000, U8 = 1001,
  // Not GGML types: KV cache only (shardlm/kernels/kv-quant.h).
  F8_E4M3 = 1002,
};

struct DTypeInfo {
  const char* name;   // "F32", "Q8_0", ...
  uint32_t block;     // elements per block (1 for plain types)
  uint32_t bytes;     // bytes per block
};

// nullopt for ids that are not known to this build.
std::optional<DTypeInfo> dtype_info(DType t);
std::optional<DTypeInfo> dtype_info(uint32_t ggml_id);
const char* dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);  // case-insensitive "q8_0"
bool dtype_is_quantized(DType t);
// Bytes for a row of n elements (n must be a multiple of the block size).
size_t dtype_row_bytes(DType t, int64_t n);

}  // namespace shardlm
