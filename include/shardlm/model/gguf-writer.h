// GGUF v3 writer: metadata of every value type, tensors streamed in declaration order.
//
// Writes the grammar documented in gguf.h: header, metadata (in the order keys were
// first set; general.alignment is always written), the tensor table (ne = the
// row-major shape reversed, offsets aligned), padding, then the data section.
//
// Usage (streaming: nothing needs to be held in memory but the bytes being written):
//   GgufWriter w;
//   w.set_string("general.architecture", "llama");
//   w.add_tensor("token_embd.weight", DType::Q8_0, {n_vocab, n_embd});
//   SHARDLM_TRY(w.begin(path));            // header, metadata, tensor table
//   SHARDLM_TRY(w.write(bytes, n));        // tensor data, any chunking, in order
//   SHARDLM_TRY(w.finish());               // checks completeness, renames into place
// The file appears at `path` only when finish() succeeds (it is written as
// `path.partial` until then). Or, for small files held in memory: add_tensor(...,
// data) for every tensor and then write_file(path).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "shardlm/core/dtype.h"
#include "shardlm/core/status.h"
#include "shardlm/model/gguf.h"

namespace shardlm {

// Building GgufValues for the writer.
GgufValue gguf_u8(uint8_t v);
GgufValue gguf_i8(int8_t v);
GgufValue gguf_u16(uint16_t v);
GgufValue gguf_i16(int16_t v);
GgufValue gguf_u32(uint32_t v);
GgufValue gguf_i32(int32_t v);
GgufValue gguf_u64(uint64_t v);
GgufValue gguf_i64(int64_t v);
GgufValue gguf_f32(float v);
GgufValue gguf_f64(double v);
GgufValue gguf_bool(bool v);
GgufValue gguf_str(std::string v);
GgufValue gguf_str_array(const std::vector<std::string>& v);
GgufValue gguf_f32_array(const std::vector<float>& v);
GgufValue gguf_i32_array(const std::vector<int32_t>& v);
GgufValue gguf_u32_array(const std::vector<uint32_t>& v);
GgufValue gguf_i64_array(const std::vector<int64_t>& v);
// An array of values that all have elem_type (nested arrays allowed).
GgufValue gguf_array(GgufType elem_type, std::vector<GgufValue> items);

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t alignment = 32);
  ~GgufWriter();  // an unfinished file is closed and its .partial removed
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // ---- metadata (before begin) ----
  void set(const std::string& key, GgufValue v);  // replaces an existing key in place
  void set_string(const std::string& key, std::string v) { set(key, gguf_str(std::move(v))); }
  void set_u32(const std::string& key, uint32_t v) { set(key, gguf_u32(v)); }
  void set_i32(const std::string& key, int32_t v) { set(key, gguf_i32(v)); }
  void set_u64(const std::string& key, uint64_t v) { set(key, gguf_u64(v)); }
  void set_f32(const std::string& key, float v) { set(key, gguf_f32(v)); }
  void set_bool(const std::string& key, bool v) { set(key, gguf_bool(v)); }
  const GgufValue* get(const std::string& key) const;
  void erase(const std::string& key);
  size_t n_metadata() const { return kv_.size(); }

  // ---- tensors (before begin) ----
  // shape: row-major, outermost first ([n_out, n_in] for a Linear weight); the
  // innermost dimension must be a multiple of the type's block size; at most 4 dims;
  // names at most 63 bytes and unique.
  Status add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape);
  // Same, with the data copied now (for write_file()). nbytes must match.
  Status add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape,
                    const void* data, size_t nbytes);
  size_t n_tensors() const { return tensors_.size(); }
  uint64_t tensor_nbytes(size_t i) const { return tensors_[i].nbytes; }
  const std::string& tensor_name(size_t i) const { return tensors_[i].name; }

  // ---- output ----
  Status begin(const std::string& path);
  // Appends tensor data in declaration order; a call may span tensor boundaries.
  Status write(const void* data, size_t nbytes);
  // Index of the tensor the next write() goes to (n_tensors() when all are written).
  size_t current_tensor() const { return cur_; }
  Status finish();
  // begin + the data given to add_tensor + finish.
  Status write_file(const std::string& path);

 private:
  struct Kv {
    std::string key;
    GgufValue value;
  };
  struct TensorInfo {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    uint64_t nbytes = 0;
    uint64_t offset = 0;
    std::vector<uint8_t> data;  // only for write_file()
    bool has_data = false;
  };
  Status put(const void* p, size_t n);
  Status pad_to_alignment();
  void abort_file();

  uint32_t alignment_;
  std::vector<Kv> kv_;
  std::vector<TensorInfo> tensors_;
  std::FILE* f_ = nullptr;
  std::string path_, tmp_path_;
  uint64_t pos_ = 0;        // bytes written to the file
  uint64_t data_start_ = 0;
  size_t cur_ = 0;          // tensor being written
  uint64_t cur_done_ = 0;   // bytes of it written
  bool failed_ = false;
};

}  // namespace shardlm
