// Counter-based random numbers for sampling. Every draw is a pure function of
// (seed, stream, counter[, index]): no state, so every rank, every run and every split
// of the vocabulary computes the same numbers. Sampling uses
//   seed    = SamplingParams::seed,
//   stream  = the sequence (request) id,
//   counter = the step counter of that sequence (tokens computed so far),
//   index   = the global token id (Gumbel noise, one value per token).
// Mixing is splitmix64's finalizer applied in a chain (each input is folded into a full
// avalanche of the previous ones); integer-only, so bit-identical everywhere.
#pragma once
#include <bit>
#include <cstdint>

namespace shardlm::rng {

// splitmix64's finalizer: a bijection on 64-bit values with full avalanche.
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

constexpr uint64_t hash(uint64_t seed, uint64_t stream, uint64_t counter) {
  return mix64(mix64(mix64(seed) ^ stream) ^ counter);
}

// A fourth input (kept apart from the three-input draws by a domain constant).
constexpr uint64_t hash(uint64_t seed, uint64_t stream, uint64_t counter, uint64_t index) {
  return mix64(hash(seed, stream, counter) ^ mix64(index ^ 0xD1B54A32D192ED03ull));
}

// The top 52 bits of h as a double strictly inside (0, 1): (m + 0.5) / 2^52.
constexpr double to_unit(uint64_t h) {
  return (static_cast<double>(h >> 12) + 0.5) * 0x1.0p-52;
}

double uniform01(uint64_t seed, uint64_t stream, uint64_t counter);
double uniform01(uint64_t seed, uint64_t stream, uint64_t counter, uint64_t index);

// Standard Gumbel noise -log(-log(u)) with u = to_unit(h).
double gumbel_from_hash(uint64_t h);
double gumbel(uint64_t seed, uint64_t stream, uint64_t counter, uint64_t index);

// A cheap upper bound of gumbel_from_hash(h) (integer ops and one multiply), used to skip
// tokens that cannot win a Gumbel-max: with w = 2^52 - 1 - (h >> 12), 1 - u >= 2^(bit_width(w) - 53),
// and -log(-log u) <= -log(1 - u) <= (53 - bit_width(w)) ln 2. The bound can be tight
// to the last bits when u is near 1: compare against it with a small margin.
constexpr double gumbel_upper_bound(uint64_t h) {
  const uint64_t w = ((uint64_t{1} << 52) - 1) - (h >> 12);
  return static_cast<double>(53 - std::bit_width(w)) * 0.69314718055994531;
}

}  // namespace shardlm::rng
