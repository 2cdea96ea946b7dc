// Attention over a long context, per KV cache dtype and instruction-set path, in the
// 1.1B shape's layer (32 query heads, 4 KV heads, head size 64, blocks of 16), KV filled
// with random rows through kv_write, 2 threads. Per-layer time; a step runs it once per
// layer (22 for TinyLlama 1.1B).
//   BM_DecodeAttention: one token at position depth-1.
//   BM_PrefillAttention: the last `chunk` positions of depth as one prompt chunk.
//
//   build/bench-attention --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// A benchmark program, not a test.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "shardlm/core/cpu-features.h"
#include "shardlm/core/thread-pool.h"
#include "shardlm/kernels/attention.h"
#include "shardlm/kernels/kv-quant.h"

using namespace shardlm;

namespace {

constexpr DType kTypes[] = {DType::F16, DType::F8_E4M3, DType::I8};
constexpr const char* kIsa[] = {"native", "avx2", "scalar"};

// Runs `chunk` query tokens ending at position depth-1 (one sequence) per iteration.
void run_attention(benchmark::State& st, int chunk) {
  const DType dt = kTypes[st.range(0)];
  const int depth = static_cast<int>(st.range(1));
  const CpuFeatures native = detect_cpu_features();
  set_cpu_features(mask_features(native, kIsa[st.range(2)]).value());
  const int n_kv = 4, n_q = 32, hd = 64, bs = 16, n_blocks = (depth + bs - 1) / bs;
  const KvBlockLayout lay = kv_block_layout(dt, bs, n_kv, hd);
  std::vector<uint8_t> K(static_cast<size_t>(n_blocks) * lay.block_bytes), V(K.size());
  KvLayerView kv{K.data(), V.data(), n_blocks, bs, n_kv, hd, dt};
  std::vector<int32_t> bt(n_blocks);
  for (int b = 0; b < n_blocks; ++b) bt[b] = b;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  {  // fill the context, 256 positions per write
    std::vector<float> k(256 * n_kv * hd), v(k.size());
    std::vector<int32_t> pos(256);
    std::vector<const int32_t*> tabs(256, bt.data());
    for (int p0 = 0; p0 < depth; p0 += 256) {
      const int n = std::min(256, depth - p0);
      for (auto& x : k) x = nd(rng);
      for (auto& x : v) x = nd(rng);
      for (int i = 0; i < n; ++i) pos[i] = p0 + i;
      kv_write(kv, AttnTokens{n, pos.data(), tabs.data()}, k.data(), v.data());
    }
  }
  // q, out: [chunk, n_q, hd]
  std::vector<float> q(static_cast<size_t>(chunk) * n_q * hd), out(q.size());
  for (auto& x : q) x = nd(rng);
  std::vector<int> q_to_kv(n_q);
  for (int h = 0; h < n_q; ++h) q_to_kv[h] = h / (n_q / n_kv);
  std::vector<int32_t> qpos(chunk);
  for (int i = 0; i < chunk; ++i) qpos[i] = depth - chunk + i;
  std::vector<const int32_t*> qtabs(chunk, bt.data());
  ThreadPool pool(2);
  for (auto _ : st) {
    attention(kv, AttnTokens{chunk, qpos.data(), qtabs.data()}, q.data(), n_q, q_to_kv.data(), out.data(), pool);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetLabel(std::string(dtype_name(dt)) + " " + kIsa[st.range(2)]);
  st.counters["kv_MiB"] = 2.0 * n_blocks * lay.block_bytes / 1048576.0;
  set_cpu_features(native);
}

void BM_DecodeAttention(benchmark::State& st) { run_attention(st, 1); }
void BM_PrefillAttention(benchmark::State& st) { run_attention(st, static_cast<int>(st.range(3))); }

}  // namespace

BENCHMARK(BM_DecodeAttention)
    ->ArgsProduct({{0, 1, 2}, {2048, 16384}, {0, 1}})
    ->ArgNames({"dtype", "depth", "isa"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_PrefillAttention)
    ->ArgsProduct({{0, 1, 2}, {512, 2048}, {0, 1}, {512}})
    ->ArgNames({"dtype", "depth", "isa", "chunk"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_MAIN();
