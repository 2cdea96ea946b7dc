#include "shardlm/kv/block-hash.h"

#include <cstddef>

namespace shardlm {

namespace {

// 64-bit mix (splitmix64 finaliser): every input bit reaches every output bit.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

BlockKey block_key(uint64_t parent, const int32_t* tokens, int block_size) {
  BlockKey k;
  k.parent = parent;
  k.tokens.assign(tokens, tokens + block_size);
  uint64_t h = mix(parent ^ 0x9e3779b97f4a7c15ull);
  for (int i = 0; i < block_size; ++i) h = mix(h ^ (static_cast<uint64_t>(static_cast<uint32_t>(tokens[i])) + 0x9e3779b97f4a7c15ull * (i + 1)));
  k.hash = h;
  return k;
}

std::vector<BlockKey> block_keys(const std::vector<int32_t>& tokens, int block_size, int n_full, uint64_t seed) {
  std::vector<BlockKey> out;
  out.reserve(n_full);
  uint64_t parent = seed;
  for (int b = 0; b < n_full && static_cast<std::size_t>((b + 1) * block_size) <= tokens.size(); ++b) {
    out.push_back(block_key(parent, tokens.data() + static_cast<std::size_t>(b) * block_size, block_size));
    parent = out.back().hash;
  }
  return out;
}

}  // namespace shardlm
