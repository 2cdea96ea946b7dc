#include "shardlm/core/regular-file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace shardlm {

Status check_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::errorf("{}: cannot open: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Status::errorf("{}: not a regular file", path);
  return Status::ok();
}

Result<int> open_regular_file(const std::string& path, size_t* size_out) {
  struct stat before {};
  if (::stat(path.c_str(), &before) != 0) return Status::errorf("{}: cannot open: {}", path, std::strerror(errno));
  if (!S_ISREG(before.st_mode)) return Status::errorf("{}: not a regular file", path);
  // O_NONBLOCK: if the path was swapped for a FIFO since the stat, the open still returns.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return Status::errorf("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_dev != before.st_dev || st.st_ino != before.st_ino) {
    ::close(fd);
    return Status::errorf("{}: not a regular file (changed while being opened)", path);
  }
  // Regular files ignore O_NONBLOCK for reads; clear it anyway so readers see plain semantics.
  (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  if (size_out) *size_out = static_cast<size_t>(st.st_size);
  return fd;
}

Result<std::string> read_regular_file(const std::string& path, size_t max_bytes) {
  size_t size = 0;
  auto fd = open_regular_file(path, &size);
  if (!fd) return fd.status();
  if (size > max_bytes) {
    ::close(fd.value());
    return Status::errorf("{}: {} bytes is larger than the {} allowed", path, size, max_bytes);
  }
  std::string out(size, '\0');
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::read(fd.value(), out.data() + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd.value());
  out.resize(got);
  return out;
}

}  // namespace shardlm
