// The model fingerprint that keys the disk tier's directories (cluster/rank-model.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "shardlm/cluster/rank-model.h"
#include "shardlm/kv/kv-disk-file.h"

namespace shardlm {

namespace {

constexpr size_t kEdge = 1 << 20;  // bytes hashed at each end of a file

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

// Size, then the first and the last kEdge bytes (non-blocking open: never a FIFO's wait).
uint64_t file_fingerprint(const std::string& path, uint64_t h) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return mix(h, 1);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return mix(h, 2);
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  h = mix(h, size);
  std::vector<uint8_t> buf(std::min<uint64_t>(kEdge, size));
  for (uint64_t off : {uint64_t{0}, size - buf.size()}) {
    const ssize_t r = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off));
    h = mix(h, r == static_cast<ssize_t>(buf.size()) ? kv_checksum(buf.data(), buf.size()) : 3);
  }
  ::close(fd);
  return h;
}

}  // namespace

uint64_t model_fingerprint(const std::string& path, const std::string& weight_dtype) {
  uint64_t h = kv_checksum(reinterpret_cast<const uint8_t*>(weight_dtype.data()), weight_dtype.size());
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return file_fingerprint(path, h);
  // A checkpoint directory: every file of it, in name order.
  std::vector<std::string> files;
  for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path().string());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const std::string name = std::filesystem::path(f).filename().string();
    h = mix(h, kv_checksum(reinterpret_cast<const uint8_t*>(name.data()), name.size()));
    h = file_fingerprint(f, h);
  }
  return h;
}

}  // namespace shardlm
