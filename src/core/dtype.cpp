#include "shardlm/core/dtype.h"

#include <cctype>

namespace shardlm {

namespace {
struct Entry { DType t; DTypeInfo info; };
constexpr Entry kTable[] = {
    {DType::F32, {"F32", 1, 4}},     {DType::F16, {"F16", 1, 2}},
    {DType::Q4_0, {"Q4_0", 32, 18}}, {DType::Q4_1, {"Q4_1", 32, 20}},
    {DType::Q5_0, {"Q5_0", 32, 22}}, {DType::Q5_1, {"Q5_1", 32, 24}},
    {DType::Q8_0, {"Q8_0", 32, 34}}, {DType::Q8_1, {"Q8_1", 32, 36}},
    {DType::Q2_K, {"Q2_K", 256, 84}}, {DType::Q3_K, {"Q3_K", 256, 110}},
    {DType::Q4_K, {"Q4_K", 256, 144}}, {DType::Q5_K, {"Q5_K", 256, 176}},
    {DType::Q6_K, {"Q6_K", 256, 210}}, {DType::Q8_K, {"Q8_K", 256, 292}},
    {DType::I8, {"I8", 1, 1}},       {DType::I16, {"I16", 1, 2}},
    {DType::I32, {"I32", 1, 4}},     {DType::I64, {"I64", 1, 8}},
    {DType::F64, {"F64", 1, 8}},     {DType::BF16, {"BF16", 1, 2}},
    {DType::U32, {"U32", 1, 4}},     {DType::U8, {"U8", 1, 1}},
    {DType::F8_E4M3, {"F8_E4M3", 1, 1}},
};
}  // namespace

std::optional<DTypeInfo> dtype_info(DType t) {
  for (const auto& e : kTable)
    if (e.t == t) return e.info;
  return std::nullopt;
}

std::optional<DTypeInfo> dtype_info(uint32_t ggml_id) {
  if (ggml_id >= 1000) return std::nullopt;
  return dtype_info(static_cast<DType>(ggml_id));
}

const char* dtype_name(DType t) {
  auto i = dtype_info(t);
  return i ? i->name : "?";
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& e : kTable) {
    std::string_view n = e.info.name;
    if (n.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < n.size(); ++i)
      if (std::toupper(static_cast<unsigned char>(name[i])) != n[i]) eq = false;
    if (eq) return e.t;
  }
  return std::nullopt;
}

bool dtype_is_quantized(DType t) {
  auto i = dtype_info(t);
  return i && i->block > 1;
}

size_t dtype_row_bytes(DType t, int64_t n) {
  auto i = dtype_info(t);
  if (!i) return 0;
  return static_cast<size_t>(n / i->block) * i->bytes;
}

}  // namespace shardlm
