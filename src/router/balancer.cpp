#include "shardlm/router/balancer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace shardlm::router {

uint64_t hash_bytes(std::string_view bytes, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t prefix_hash(std::string_view prompt, size_t block_bytes, size_t blocks) {
  if (block_bytes == 0 || blocks == 0 || prompt.size() < block_bytes) return 0;
  const size_t whole = std::min(prompt.size() / block_bytes, blocks);
  const uint64_t h = hash_bytes(prompt.substr(0, whole * block_bytes));
  return h == 0 ? 1 : h;
}

int least_load(const std::vector<Candidate>& cands) {
  int best = -1;
  for (size_t i = 0; i < cands.size(); ++i)
    if (best < 0 || cands[i].load < cands[static_cast<size_t>(best)].load) best = static_cast<int>(i);
  return best;
}

namespace {
// A 64-bit finalizer (splitmix64) for the rendezvous score.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

int bounded_hash(const std::vector<Candidate>& cands, uint64_t prefix_hash, double load_factor) {
  if (cands.empty()) return -1;
  std::vector<size_t> order(cands.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<uint64_t> score(cands.size());
  for (size_t i = 0; i < cands.size(); ++i) score[i] = mix(prefix_hash ^ hash_bytes(cands[i].name));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return score[a] != score[b] ? score[a] > score[b] : cands[a].name < cands[b].name;
  });
  double total = 0;
  for (const auto& c : cands) total += c.load;
  const double bound = std::ceil(std::max(1.0, load_factor) * (total + 1) / static_cast<double>(cands.size()));
  for (size_t i : order)
    if (cands[i].load < bound) return static_cast<int>(i);
  return least_load(cands);  // unreachable: the least loaded is always below the bound
}

}  // namespace shardlm::router
