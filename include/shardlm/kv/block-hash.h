// Identity of a full KV block for the prefix cache: a hash chain over the tokens
// (hash of block i covers its parent's hash and its own tokens, so equal hashes mean
// equal prefixes up to collisions), plus the block's tokens and parent hash for an
// exact comparison.
#pragma once
#include <cstdint>
#include <vector>

namespace shardlm {

struct BlockKey {
  uint64_t hash = 0;
  uint64_t parent = 0;          // hash of the previous block; 0 for the first block
  std::vector<int32_t> tokens;  // i32 [block_size]
  bool operator==(const BlockKey&) const = default;
};

// Keys of the first n_full full blocks of tokens (n_full * block_size <= tokens.size()),
// chained from `seed` (distinguishes models / caches; 0 is fine for one model).
std::vector<BlockKey> block_keys(const std::vector<int32_t>& tokens, int block_size, int n_full, uint64_t seed = 0);
// Key of one block given its parent hash.
BlockKey block_key(uint64_t parent, const int32_t* tokens, int block_size);

}  // namespace shardlm
