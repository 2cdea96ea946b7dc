// Test data: n standard-normal floats from a fixed seed (std::mt19937, so the same on
// every machine and run).
#pragma once
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

inline std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
