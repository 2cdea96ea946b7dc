// GGUF v2/v3 reader: header, every metadata value type, tensor table, alignment.
//
// File grammar (little-endian):
//   magic "GGUF" u32 version(2|3) u64 n_tensors u64 n_kv
//   n_kv × { string key, u32 value_type, value }
//   n_tensors × { string name, u32 n_dims, n_dims × u64 ne, u32 ggml_type, u64 offset }
//   padding to general.alignment (default 32), then the data section;
//   tensor data at data_start + offset, each offset a multiple of the alignment.
//   string = u64 length + bytes; array = u32 elem_type + u64 count + elements.
// Everything is bounds-checked: a malformed file yields an error naming the file,
// never a crash or an out-of-bounds read.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "shardlm/core/mmap.h"
#include "shardlm/core/status.h"
#include "shardlm/model/tensor-source.h"

namespace shardlm {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

struct GgufValue {
  GgufType type = GgufType::U8;
  GgufType elem_type = GgufType::U8;  // for ARRAY
  // Integers (any width) as int64/uint64, floats as double, BOOL, STRING, ARRAY.
  std::variant<uint64_t, int64_t, double, bool, std::string, std::vector<GgufValue>> v;

  bool is_int() const;
  bool is_float() const { return type == GgufType::F32 || type == GgufType::F64; }
  std::optional<int64_t> as_int() const;     // any integer or bool type
  std::optional<double> as_float() const;    // floats and integers
  const std::string* as_string() const;
  const std::vector<GgufValue>* as_array() const;
  std::string to_string(size_t max_items = 8) const;  // for printing
};

class GgufFile {
 public:
  // Parse a mapped file (the mapping is kept alive by the GgufFile).
  static Result<std::unique_ptr<GgufFile>> open(const std::string& path);
  // Parse bytes that the caller keeps alive (fuzzing, tests). name is used in errors.
  static Result<std::unique_ptr<GgufFile>> parse(const uint8_t* data, size_t size,
                                                 const std::string& name);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const std::string& path() const { return path_; }

  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const GgufValue* find(const std::string& key) const;
  std::optional<int64_t> get_int(const std::string& key) const;
  std::optional<double> get_float(const std::string& key) const;
  std::optional<std::string> get_string(const std::string& key) const;
  std::optional<bool> get_bool(const std::string& key) const;
  // Typed arrays; nullopt if missing or of the wrong element type.
  std::optional<std::vector<std::string>> get_string_array(const std::string& key) const;
  std::optional<std::vector<float>> get_float_array(const std::string& key) const;
  std::optional<std::vector<int64_t>> get_int_array(const std::string& key) const;

  const std::vector<RawTensor>& tensors() const { return tensors_; }
  const RawTensor* tensor(const std::string& name) const;

 private:
  GgufFile() = default;
  std::shared_ptr<MappedFile> file_;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> kv_;
  std::vector<RawTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace shardlm
