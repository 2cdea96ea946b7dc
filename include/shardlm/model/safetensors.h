// Safetensors reader (Hugging Face / MLX weight files).
//
// File grammar:
//   u64 LE N (header length), N bytes of UTF-8 JSON, then the data section.
//   JSON: an object { "<tensor name>": {"dtype": "F32", "shape": [d0, d1, ...],
//                                       "data_offsets": [begin, end]}, ...,
//                     "__metadata__": {"key": "value", ...} (optional) }
//   Offsets are relative to the data section (byte 8 + N); end - begin must equal
//   prod(shape) × element size. The JSON may be padded with trailing spaces.
//
// Everything is checked: the header length against the file, the JSON (no duplicate
// keys), the dtype (F32 F16 BF16 F64 I8 I16 I32 I64 U8 U32 BOOL; BOOL is exposed as
// U8; U16/U64/F8 are refused as unsupported), shapes (non-negative integers, no
// overflow), offsets (inside the data section, consistent with the shape), and no two
// tensors may overlap. Gaps between tensors are allowed. Tensors need not be aligned
// (MLX writes tensors at odd offsets): consumers must copy or use unaligned loads.
// A malformed file yields "<file>: invalid safetensors: <problem>", never a crash.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shardlm/core/mmap.h"
#include "shardlm/core/status.h"
#include "shardlm/model/tensor-source.h"

namespace shardlm {

class SafetensorsFile {
 public:
  // Map and parse a file (the mapping is kept alive by the SafetensorsFile).
  static Result<std::unique_ptr<SafetensorsFile>> open(const std::string& path);
  // Parse bytes that the caller keeps alive (fuzzing, tests). name is used in errors.
  static Result<std::unique_ptr<SafetensorsFile>> parse(const uint8_t* data, size_t size,
                                                        const std::string& name);

  const std::string& path() const { return path_; }
  uint64_t data_offset() const { return data_offset_; }  // 8 + N: start of the data section
  // Tensors sorted by name; RawTensor::data points into the file (possibly unaligned).
  const std::vector<RawTensor>& tensors() const { return tensors_; }
  const RawTensor* tensor(const std::string& name) const;
  // "__metadata__" (string values; a non-string value is kept as its JSON text).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The mapping (nullptr for parse()); MappedFile::release() drops copied pages.
  const MappedFile* file() const { return file_.get(); }

 private:
  SafetensorsFile() = default;
  std::shared_ptr<MappedFile> file_;
  std::string path_;
  uint64_t data_offset_ = 0;
  std::vector<RawTensor> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace shardlm
