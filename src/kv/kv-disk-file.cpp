// Block files of the disk tier: format, checksum, write via rename, checked reads.
#include "shardlm/kv/kv-disk-file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace shardlm {

namespace {

constexpr uint64_t kMagic = 0x313042564B4D4C53ull;  // "SLMKVB01" little-endian
// 2: blocks are head-major (kernels/kv-quant.h); a version-1 file (position-major) is
// foreign, counted and deleted by the scan.
constexpr uint32_t kVersion = 2;
// Fixed part of the header before the tokens: magic 8, version 4, header_bytes 4,
// fingerprint 8, 8 × u32, hash 8, parent 8, payload_bytes 8, payload_checksum 8.
constexpr size_t kFixed = 8 + 4 + 4 + 8 + 8 * 4 + 8 + 8 + 8 + 8;

size_t header_bytes(size_t n_tokens) { return kFixed + 4 * n_tokens + 8; }

template <class T>
void put(std::vector<uint8_t>& o, T v) {
  const size_t at = o.size();
  o.resize(at + sizeof(T));
  std::memcpy(o.data() + at, &v, sizeof(T));
}

template <class T>
T get(const uint8_t* p, size_t& at) {
  T v;
  std::memcpy(&v, p + at, sizeof(T));
  at += sizeof(T);
  return v;
}

uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// Reads exactly n bytes at offset; false on a short read or an error.
bool pread_all(int fd, uint8_t* p, size_t n, off_t off) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    off += r;
  }
  return true;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The header's fields, checked against the layout; payload_bytes must be as expected.
BlockFileError parse_header(const uint8_t* h, size_t n, const KvDiskLayout& l, size_t payload_bytes,
                            BlockFileHeader& out, std::string& why) {
  if (n < kFixed) {
    why = "shorter than a header";
    return BlockFileError::truncated;
  }
  size_t at = 0;
  if (get<uint64_t>(h, at) != kMagic) {
    why = "not a block file (magic)";
    return BlockFileError::foreign;
  }
  const uint32_t version = get<uint32_t>(h, at);
  const uint32_t hb = get<uint32_t>(h, at);
  if (version != kVersion) {
    why = fmt::format("block file version {} (this build reads {})", version, kVersion);
    return BlockFileError::foreign;
  }
  KvDiskLayout f;
  f.fingerprint = get<uint64_t>(h, at);
  f.tp = get<uint32_t>(h, at);
  f.rank = get<uint32_t>(h, at);
  f.dtype = get<uint32_t>(h, at);
  f.block_size = get<uint32_t>(h, at);
  f.n_layer = get<uint32_t>(h, at);
  f.n_kv_local = get<uint32_t>(h, at);
  f.head_dim = get<uint32_t>(h, at);
  const uint32_t n_tokens = get<uint32_t>(h, at);
  if (n_tokens != l.block_size || hb != header_bytes(n_tokens)) {
    why = fmt::format("header of {} bytes for {} tokens", hb, n_tokens);
    return BlockFileError::corrupt;
  }
  if (n < hb) {
    why = "header cut short";
    return BlockFileError::truncated;
  }
  uint64_t sum;
  std::memcpy(&sum, h + hb - 8, 8);
  if (sum != kv_checksum(h, hb - 8)) {
    why = "header checksum mismatch";
    return BlockFileError::corrupt;
  }
  if (!(f == l)) {
    why = "written for another model or layout";
    return BlockFileError::foreign;
  }
  out.key.hash = get<uint64_t>(h, at);
  out.key.parent = get<uint64_t>(h, at);
  out.payload_bytes = get<uint64_t>(h, at);
  out.payload_checksum = get<uint64_t>(h, at);
  out.key.tokens.resize(n_tokens);
  std::memcpy(out.key.tokens.data(), h + at, 4ull * n_tokens);
  if (out.payload_bytes != payload_bytes) {
    why = fmt::format("payload of {} bytes, expected {}", out.payload_bytes, payload_bytes);
    return BlockFileError::foreign;
  }
  return BlockFileError::none;
}

}  // namespace

std::string layout_dir_name(const KvDiskLayout& l) {
  return fmt::format("{:016x}-tp{}-r{}-d{}-bs{}", l.fingerprint, l.tp, l.rank, l.dtype, l.block_size);
}

std::string block_file_name(uint64_t hash) { return fmt::format("{:016x}.kvb", hash); }

uint64_t kv_checksum(const uint8_t* p, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = rotl(h ^ (w * 0x87c37b91114253d5ull), 31) * 0x4cf5ad432745937full;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p + i, n - i);
  h = rotl(h ^ (tail * 0x87c37b91114253d5ull), 31) * 0x4cf5ad432745937full;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

const char* block_file_error_name(BlockFileError e) {
  switch (e) {
    case BlockFileError::none: return "none";
    case BlockFileError::io: return "io";
    case BlockFileError::truncated: return "truncated";
    case BlockFileError::corrupt: return "corrupt";
    case BlockFileError::foreign: return "foreign";
    case BlockFileError::not_found: return "not_found";
  }
  return "";
}

std::vector<uint8_t> encode_block_file(const KvDiskLayout& l, const BlockKey& key, const uint8_t* payload,
                                       size_t payload_bytes) {
  std::vector<uint8_t> o;
  o.reserve(header_bytes(key.tokens.size()) + payload_bytes);
  put<uint64_t>(o, kMagic);
  put<uint32_t>(o, kVersion);
  put<uint32_t>(o, static_cast<uint32_t>(header_bytes(key.tokens.size())));
  put<uint64_t>(o, l.fingerprint);
  for (uint32_t v : {l.tp, l.rank, l.dtype, l.block_size, l.n_layer, l.n_kv_local, l.head_dim}) put<uint32_t>(o, v);
  put<uint32_t>(o, static_cast<uint32_t>(key.tokens.size()));
  put<uint64_t>(o, key.hash);
  put<uint64_t>(o, key.parent);
  put<uint64_t>(o, payload_bytes);
  put<uint64_t>(o, kv_checksum(payload, payload_bytes));
  for (int32_t t : key.tokens) put<int32_t>(o, t);
  put<uint64_t>(o, kv_checksum(o.data(), o.size()));
  o.insert(o.end(), payload, payload + payload_bytes);
  return o;
}

Status write_block_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  const std::string tmp = path + ".tmp";
  Fd f;
  f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f.fd < 0) return Status::errorf("{}: {}", tmp, std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(f.fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int e = errno;
      ::unlink(tmp.c_str());
      return Status::errorf("{}: {}", tmp, w < 0 ? std::strerror(e) : "short write");
    }
    done += static_cast<size_t>(w);
  }
  const int c = ::close(f.fd);
  f.fd = -1;
  if (c != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return Status::errorf("{}: {}", path, std::strerror(e));
  }
  return Status::ok();
}

BlockFileError read_block_header(const std::string& path, const KvDiskLayout& l, size_t payload_bytes,
                                 BlockFileHeader& out, std::string& why) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (f.fd < 0) {
    why = std::strerror(errno);
    return errno == ENOENT ? BlockFileError::not_found : BlockFileError::io;
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    why = "not a regular file";
    return BlockFileError::foreign;
  }
  std::vector<uint8_t> h(header_bytes(l.block_size));
  const size_t have = std::min<size_t>(h.size(), static_cast<size_t>(st.st_size));
  if (!pread_all(f.fd, h.data(), have, 0)) {
    why = std::strerror(errno);
    return BlockFileError::io;
  }
  const BlockFileError e = parse_header(h.data(), have, l, payload_bytes, out, why);
  if (e != BlockFileError::none) return e;
  out.file_bytes = static_cast<uint64_t>(st.st_size);
  if (out.file_bytes != h.size() + payload_bytes) {
    why = fmt::format("{} bytes, expected {}", out.file_bytes, h.size() + payload_bytes);
    return out.file_bytes < h.size() + payload_bytes ? BlockFileError::truncated : BlockFileError::corrupt;
  }
  return BlockFileError::none;
}

BlockFileError read_block_file(const std::string& path, const KvDiskLayout& l, const BlockKey& key, uint8_t* payload,
                               size_t payload_bytes, std::string& why) {
  BlockFileHeader h;
  const BlockFileError e = read_block_header(path, l, payload_bytes, h, why);
  if (e != BlockFileError::none) return e;
  if (!(h.key == key)) {
    why = "holds another block (key mismatch)";
    return BlockFileError::foreign;
  }
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0 || !pread_all(f.fd, payload, payload_bytes, static_cast<off_t>(header_bytes(l.block_size)))) {
    why = std::strerror(errno);
    return BlockFileError::io;
  }
  if (kv_checksum(payload, payload_bytes) != h.payload_checksum) {
    why = "payload checksum mismatch";
    return BlockFileError::corrupt;
  }
  return BlockFileError::none;
}

}  // namespace shardlm
