// Safetensors writer, optionally sharded with a model.safetensors.index.json.
//
// File format: u64 little-endian header length N, then N bytes of JSON
//   { "__metadata__": {str: str}, "NAME": {"dtype": "F32", "shape": [..],
//     "data_offsets": [begin, end]}, ... }
// padded with spaces so the data section starts on an 8-byte boundary; offsets are
// relative to the data section, tensors packed back to back (declaration order).
// Sharded: BASE-00001-of-0000N.safetensors ... plus BASE.safetensors.index.json
//   {"metadata": {"total_size": bytes}, "weight_map": {"NAME": "file", ...}}.
//
// Usage mirrors GgufWriter: add_tensor() every tensor, begin(dir), write() the data in
// declaration order (any chunking), finish(). Files are written as NAME.partial and
// renamed into place by finish().
#pragma once
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "shardlm/core/dtype.h"
#include "shardlm/core/status.h"

namespace shardlm {

struct SafetensorsOptions {
  uint64_t max_shard_bytes = 0;   // 0: one file; else a tensor that would take a shard past
                                  // this starts the next one (a bigger tensor gets its own)
  std::string basename = "model"; // model.safetensors / model-00001-of-00002.safetensors
  bool always_index = false;      // write the index even for a single file
};

// "F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64", "U8", "U32"; nullptr otherwise.
const char* safetensors_dtype_name(DType t);

class SafetensorsWriter {
 public:
  explicit SafetensorsWriter(SafetensorsOptions opt = {});
  ~SafetensorsWriter();  // unfinished files are removed
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  void set_metadata(const std::string& key, const std::string& value);  // __metadata__, every shard
  // shape row-major, outermost first; a 0-d scalar is shape {}.
  Status add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape);
  Status add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape, const void* data,
                    size_t nbytes);

  Status begin(const std::string& dir);
  Status write(const void* data, size_t nbytes);
  Status finish();
  Status write_files(const std::string& dir);  // begin + data given to add_tensor + finish

  // File names (relative to dir), known after begin().
  const std::vector<std::string>& files() const { return files_; }
  uint64_t total_bytes() const;

 private:
  struct TensorInfo {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    uint64_t nbytes = 0;
    size_t shard = 0;
    uint64_t offset = 0;  // within its shard's data section
    std::vector<uint8_t> data;
    bool has_data = false;
  };
  Status open_shard(size_t s);
  Status close_shard();
  void abort_files();

  SafetensorsOptions opt_;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> tensors_;
  std::vector<std::string> files_;
  std::string dir_;
  std::FILE* f_ = nullptr;
  size_t shard_ = 0;
  size_t cur_ = 0;
  uint64_t cur_done_ = 0;
  bool failed_ = false;
  bool begun_ = false;
};

}  // namespace shardlm
