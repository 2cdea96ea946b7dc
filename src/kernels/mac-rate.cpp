#include "shardlm/kernels/mac-rate.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "shardlm/core/cpu-features.h"

#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12's false positive in the AVX-512 reductions
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

namespace shardlm {

namespace {

constexpr int64_t kIters = 1 << 22;  // of 12 instructions (~50 M): a few ms at any rate

// Each loop returns something derived from every accumulator, so none is dropped.
#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int64_t int8_vnni512(int64_t iters) {
  __m512i a[12];
  for (auto& v : a) v = _mm512_setzero_si512();
  __m512i w = _mm512_set1_epi8(3), x = _mm512_set1_epi8(-2);
  for (int64_t i = 0; i < iters; ++i) {
    __asm__ volatile("" : "+v"(w), "+v"(x));  // opaque operands: the loop is not folded
#pragma GCC unroll 12
    for (auto& v : a) v = _mm512_dpbusd_epi32(v, w, x);
  }
  __m512i s = a[0];
  for (int k = 1; k < 12; ++k) s = _mm512_add_epi32(s, a[k]);
  return _mm512_reduce_add_epi32(s);
}
__attribute__((target("avx2,avxvnni"))) int64_t int8_avxvnni(int64_t iters) {
  __m256i a[12];
  for (auto& v : a) v = _mm256_setzero_si256();
  __m256i w = _mm256_set1_epi8(3), x = _mm256_set1_epi8(-2);
  for (int64_t i = 0; i < iters; ++i) {
    __asm__ volatile("" : "+x"(w), "+x"(x));
#pragma GCC unroll 12
    for (auto& v : a) v = _mm256_dpbusd_avx_epi32(v, w, x);
  }
  __m256i s = a[0];
  for (int k = 1; k < 12; ++k) s = _mm256_add_epi32(s, a[k]);
  return _mm256_extract_epi32(s, 0);
}
// In assembly: written with intrinsics, GCC computes the loop-invariant vpmaddubsw once
// per iteration (12 vpaddw of one product) and keeps half the accumulators on the stack,
// so the loop measured stores and adds, not the multiply: 160 "GMAC/s" on a 2-core Zen 3
// whose pairs run at ~250. Each pair's product goes to its own temporary; the
// accumulators are independent.
__attribute__((target("avx2"))) int64_t int8_avx2(int64_t iters) {
  int64_t n = iters;
  int32_t out = 0;
#define SHARDLM_PAIR(t, a) "vpmaddubsw %%ymm14, %%ymm15, %%ymm" #t "\n\tvpaddw %%ymm" #t ", %%ymm" #a ", %%ymm" #a "\n\t"
  __asm__ volatile(
      "vpcmpeqb %%ymm15, %%ymm15, %%ymm15\n\t"  // x = -1 (signed), w = 3 (unsigned): no saturation
      "vpabsb %%ymm15, %%ymm14\n\t"
      "vpaddb %%ymm14, %%ymm14, %%ymm13\n\t"
      "vpaddb %%ymm13, %%ymm14, %%ymm14\n\t"
      "vpxor %%ymm0, %%ymm0, %%ymm0\n\tvpxor %%ymm1, %%ymm1, %%ymm1\n\tvpxor %%ymm2, %%ymm2, %%ymm2\n\t"
      "vpxor %%ymm3, %%ymm3, %%ymm3\n\tvpxor %%ymm4, %%ymm4, %%ymm4\n\tvpxor %%ymm5, %%ymm5, %%ymm5\n\t"
      "1:\n\t" SHARDLM_PAIR(6, 0) SHARDLM_PAIR(7, 1) SHARDLM_PAIR(8, 2) SHARDLM_PAIR(9, 3) SHARDLM_PAIR(10, 4)
          SHARDLM_PAIR(11, 5) SHARDLM_PAIR(12, 0) SHARDLM_PAIR(13, 1) SHARDLM_PAIR(6, 2) SHARDLM_PAIR(7, 3)
              SHARDLM_PAIR(8, 4) SHARDLM_PAIR(9, 5)
      "dec %0\n\tjnz 1b\n\t"
      "vpaddw %%ymm1, %%ymm0, %%ymm0\n\tvpaddw %%ymm3, %%ymm2, %%ymm2\n\tvpaddw %%ymm5, %%ymm4, %%ymm4\n\t"
      "vpaddw %%ymm2, %%ymm0, %%ymm0\n\tvpaddw %%ymm4, %%ymm0, %%ymm0\n\t"
      "vmovd %%xmm0, %1\n\tvzeroupper"
      : "+r"(n), "=r"(out)
      :
      : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15");
#undef SHARDLM_PAIR
  return out;
}
__attribute__((target("avx512f"))) int64_t f32_avx512(int64_t iters) {
  __m512 a[12];
  for (auto& v : a) v = _mm512_setzero_ps();
  __m512 w = _mm512_set1_ps(0.5f), x = _mm512_set1_ps(1e-9f);
  for (int64_t i = 0; i < iters; ++i) {
    __asm__ volatile("" : "+v"(w), "+v"(x));
#pragma GCC unroll 12
    for (auto& v : a) v = _mm512_fmadd_ps(w, x, v);
  }
  __m512 s = a[0];
  for (int k = 1; k < 12; ++k) s = _mm512_add_ps(s, a[k]);
  return static_cast<int64_t>(_mm512_reduce_add_ps(s));
}
__attribute__((target("avx2,fma"))) int64_t f32_avx2(int64_t iters) {
  __m256 a[12];
  for (auto& v : a) v = _mm256_setzero_ps();
  __m256 w = _mm256_set1_ps(0.5f), x = _mm256_set1_ps(1e-9f);
  for (int64_t i = 0; i < iters; ++i) {
    __asm__ volatile("" : "+x"(w), "+x"(x));
#pragma GCC unroll 12
    for (auto& v : a) v = _mm256_fmadd_ps(w, x, v);
  }
  __m256 s = a[0];
  for (int k = 1; k < 12; ++k) s = _mm256_add_ps(s, a[k]);
  return static_cast<int64_t>(_mm256_cvtss_f32(s));
}
#endif

int64_t f32_scalar(int64_t iters) {
  float a[12] = {};
  float w = 0.5f, x = 1e-9f;
  for (int64_t i = 0; i < iters; ++i) {
    __asm__ volatile("" : "+r"(i));
    for (auto& v : a) v += w * x;
  }
  float s = 0;
  for (float v : a) s += v;
  return static_cast<int64_t>(s);
}

using Loop = int64_t (*)(int64_t);

// MACs per second of `loop` (macs MACs per iteration) on `threads` threads at once: the
// best of 6 timed passes after a warm-up. A ceiling is what the machine can do, and on a
// shared or virtual machine a pass only loses (to a neighbour, a descheduled vCPU): the
// median of 3 passes scattered 1.8x between runs on a 2-core Zen 3 guest, the best of 6
// is what a kernel can be held to.
double rate(Loop loop, double macs, int threads) {
  threads = std::max(1, threads);
  std::vector<double> passes;
  volatile int64_t sink = 0;
  for (int pass = 0; pass < 7; ++pass) {
    std::vector<std::thread> ts;
    std::vector<int64_t> part(static_cast<size_t>(threads));
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) ts.emplace_back([&, t] { part[t] = loop(kIters); });
    for (auto& t : ts) t.join();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (int64_t v : part) sink = sink + v;
    if (pass > 0) passes.push_back(macs * static_cast<double>(kIters) * threads / dt);
  }
  return *std::max_element(passes.begin(), passes.end());
}

}  // namespace

double int8_mac_rate(int threads) {
#if defined(__x86_64__)
  const CpuFeatures f = cpu_features();
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  if (avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512_vnni)
    return rate(int8_vnni512, 12 * 64, threads);
  if (avx2 && f.avx_vnni) return rate(int8_avxvnni, 12 * 32, threads);
  if (avx2) return rate(int8_avx2, 12 * 32, threads);
#endif
  (void)threads;
  return 0;
}

double f32_mac_rate(int threads) {
#if defined(__x86_64__)
  const CpuFeatures f = cpu_features();
  if (f.avx2 && f.fma && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq) return rate(f32_avx512, 12 * 16, threads);
  if (f.avx2 && f.fma) return rate(f32_avx2, 12 * 8, threads);
#endif
  return rate(f32_scalar, 12, threads);
}

}  // namespace shardlm
