// Opening model and tokenizer files safely: the path's type is checked with stat()
// before any open(), and the open itself cannot block (O_NONBLOCK, O_NOCTTY), so a
// FIFO, a device or a socket is refused instead of hanging or being read. The file
// opened must be the one that was checked (same device and inode).
#pragma once
#include <cstddef>
#include <string>

#include "shardlm/core/status.h"

namespace shardlm {

// A regular file (symlinks followed)? Error: "PATH: no such file" / "PATH: not a regular file".
Status check_regular_file(const std::string& path);

// A read-only descriptor (O_CLOEXEC) on the regular file at path; the caller closes it.
// size_out: the file's size. Errors name the path.
Result<int> open_regular_file(const std::string& path, size_t* size_out = nullptr);

// The whole regular file at path; larger than max_bytes → error.
Result<std::string> read_regular_file(const std::string& path, size_t max_bytes = size_t{1} << 31);

}  // namespace shardlm
