// Read-only memory-mapped files and page-aligned anonymous buffers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "shardlm/core/status.h"

namespace shardlm {

// A whole file mapped read-only. Pages are touched only when read, so a rank
// that reads only its slices only faults those in.
class MappedFile {
 public:
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Tell the kernel we are done with [off, off+len) (page-rounded): drops it from RSS.
  void release(size_t off, size_t len) const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Owned, 64-byte-aligned memory from mmap(MAP_ANONYMOUS): freeing returns it to the OS.
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t bytes);
  ~Buffer();
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  template <typename T> T* as() { return reinterpret_cast<T*>(data_); }
  template <typename T> const T* as() const { return reinterpret_cast<const T*>(data_); }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace shardlm
