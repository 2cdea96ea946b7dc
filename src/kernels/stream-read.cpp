#include "shardlm/kernels/stream-read.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "shardlm/core/mmap.h"

#include "shardlm/core/cpu-features.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace shardlm {

namespace {

#if defined(__x86_64__)
__attribute__((target("avx2"))) uint64_t read_avx2(const uint8_t* p, size_t bytes) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 128 <= bytes; i += 128) {
    a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_xor_si256(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  uint64_t r = static_cast<uint64_t>(_mm256_extract_epi64(a, 0) ^ _mm256_extract_epi64(a, 3));
  for (; i < bytes; ++i) r ^= p[i];
  return r;
}
#endif

uint64_t read_words(const uint8_t* p, size_t bytes) {
  uint64_t r = 0, v;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    std::memcpy(&v, p + i, 8);
    r ^= v;
  }
  for (; i < bytes; ++i) r ^= p[i];
  return r;
}

}  // namespace

uint64_t stream_read(const uint8_t* p, size_t bytes) {
#if defined(__x86_64__)
  if (cpu_features().avx2) return read_avx2(p, bytes);
#endif
  return read_words(p, bytes);
}

double stream_read_bandwidth(int threads, size_t bytes) {
  threads = std::max(1, threads);
  Buffer buf(bytes);
  std::memset(buf.data(), 0x5a, bytes);  // touch every page (the values do not matter)
  std::vector<double> passes;
  volatile uint64_t sink = 0;
  for (int pass = 0; pass < 6; ++pass) {
    std::vector<std::thread> ts;
    std::vector<uint64_t> part(static_cast<size_t>(threads));
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        const size_t n = static_cast<size_t>(threads);
        const size_t a = bytes * t / n / 64 * 64, b = t + 1 == threads ? bytes : bytes * (t + 1) / n / 64 * 64;
        part[t] = stream_read(buf.data() + a, b - a);
      });
    for (auto& t : ts) t.join();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (uint64_t v : part) sink = sink ^ v;
    if (pass > 0) passes.push_back(static_cast<double>(bytes) / dt);
  }
  std::sort(passes.begin(), passes.end());
  return passes[passes.size() / 2];
}

}  // namespace shardlm
