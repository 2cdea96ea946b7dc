// One KV block on disk (the disk tier, ARCHITECTURE §5): this rank's K and V of one full
// block, every layer, content-addressed by the block's chain hash (kv/block-hash.h).
//
// Directory: <kv-disk-dir>/<layout_dir_name()>/<hash as 16 hex digits>.kvb, where the
// layout names the model fingerprint, TP degree, rank, KV dtype and block size, so a
// different model or layout never even opens another's files. Each file is written to
// "<name>.tmp" and renamed, so a reader sees a whole file or none.
//
// File := Header Payload
//   Header  := u64 magic "SLMKVB01"  u32 version(=2)  u32 header_bytes
//              u64 fingerprint  u32 tp  u32 rank  u32 dtype  u32 block_size
//              u32 n_layer  u32 n_kv_local  u32 head_dim  u32 n_tokens
//              u64 hash  u64 parent  u64 payload_bytes  u64 payload_checksum
//              n_tokens × i32 tokens  u64 header_checksum (of every header byte before it)
//   Payload := per layer: K bytes then V bytes (KvStorage::block_bytes), payload_bytes in all
// A file whose size, magic, checksums, layout or key disagree is refused with the reason
// (truncated, corrupt, foreign); the store counts and deletes it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/kv/block-hash.h"

namespace shardlm {

// What a block file must match to be read (every rank's own).
struct KvDiskLayout {
  uint64_t fingerprint = 0;  // the model's content fingerprint (cluster/rank-model.cpp)
  uint32_t tp = 1;           // ranks in the tensor-parallel group
  uint32_t rank = 0;
  uint32_t dtype = 0;        // DType of the KV cache, as its integer value
  uint32_t block_size = 0;
  uint32_t n_layer = 0;
  uint32_t n_kv_local = 0;   // KV heads this rank holds
  uint32_t head_dim = 0;
  bool operator==(const KvDiskLayout&) const = default;
};

// "<fingerprint hex>-tp<T>-r<R>-d<dtype>-bs<B>"
std::string layout_dir_name(const KvDiskLayout& l);
// "<hash as 16 hex digits>.kvb"
std::string block_file_name(uint64_t hash);
// 64-bit checksum of n bytes (word-wise multiply-rotate mix; not cryptographic).
uint64_t kv_checksum(const uint8_t* p, size_t n);

enum class BlockFileError { none, io, truncated, corrupt, foreign, not_found };
const char* block_file_error_name(BlockFileError e);

// Header + payload as bytes (the payload copied after the header).
std::vector<uint8_t> encode_block_file(const KvDiskLayout& l, const BlockKey& key, const uint8_t* payload,
                                       size_t payload_bytes);
// Writes the file at path via path.tmp and a rename. io on any failure (the tmp is removed).
Status write_block_file(const std::string& path, const std::vector<uint8_t>& bytes);

struct BlockFileHeader {
  BlockKey key;
  uint64_t payload_bytes = 0;
  uint64_t payload_checksum = 0;
  uint64_t file_bytes = 0;
};
// Checks the header (and the file's size) of path against the layout: what a scan reads.
BlockFileError read_block_header(const std::string& path, const KvDiskLayout& l, size_t payload_bytes,
                                 BlockFileHeader& out, std::string& why);
// Reads the whole file, checks header, key (hash, parent and tokens equal `key`) and
// payload checksum, and copies payload_bytes into `payload`.
BlockFileError read_block_file(const std::string& path, const KvDiskLayout& l, const BlockKey& key, uint8_t* payload,
                               size_t payload_bytes, std::string& why);

}  // namespace shardlm
