#include "shardlm/sampling/rng.h"

#include <cmath>

namespace shardlm::rng {

double uniform01(uint64_t seed, uint64_t stream, uint64_t counter) { return to_unit(hash(seed, stream, counter)); }

double uniform01(uint64_t seed, uint64_t stream, uint64_t counter, uint64_t index) {
  return to_unit(hash(seed, stream, counter, index));
}

double gumbel_from_hash(uint64_t h) { return -std::log(-std::log(to_unit(h))); }

double gumbel(uint64_t seed, uint64_t stream, uint64_t counter, uint64_t index) {
  return gumbel_from_hash(hash(seed, stream, counter, index));
}

}  // namespace shardlm::rng
