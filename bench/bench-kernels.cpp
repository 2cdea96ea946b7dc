// Google Benchmark microbenchmarks of the vec-dot kernels (single thread): each call
// quantizes one activation vector and multiplies it with a whole weight matrix through
// vec_dot_rows (".../fn4": through the 4-row kernel instead), so every weight byte is
// read once per call. GBps = 1e9 weight bytes per second of CPU time (the rate
// counters of Google Benchmark use CPU time, which keeps the figures usable on a shared
// machine). Beside each kernel, "read" streams the same bytes with plain vector loads:
// the memory-read bandwidth the kernel is judged against.
//
// Two placements per case:
//   dram: the call cycles through copies of the matrix totalling >= 256 MB, so each
//         call reads from memory, not from the last-level cache;
//   hot:  one copy, re-read every call (cache-resident when it fits).
//
//   bench-kernels [--benchmark_filter=Q4_0] [google benchmark flags]
// Paths the CPU lacks are not registered; SHARDLM_CPU is not read here (all paths run).
#include <benchmark/benchmark.h>


#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "shardlm/core/cpu-features.h"
#include "shardlm/core/thread-pool.h"
#include "shardlm/kernels/gemm-float.h"
#include "shardlm/kernels/gemm-int8.h"
#include "shardlm/kernels/stream-read.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/kernels/quant.h"
#include "shardlm/kernels/vec-dot.h"

using namespace shardlm;

namespace {

constexpr size_t kDramFootprint = size_t{256} << 20;

struct Matrix {
  DType type;
  int64_t rows, cols;
  size_t row_bytes, bytes;
  std::vector<std::unique_ptr<uint8_t[]>> copies;  // identical matrices, distinct memory
};

// Random weights: quantized from normal floats (F16/BF16/F32/Q8_0/Q4_0) or random
// code bytes with sane f16 scales (other block types).
std::unique_ptr<uint8_t[]> make_matrix(DType t, int64_t rows, int64_t cols, size_t* row_bytes) {
  *row_bytes = dtype_row_bytes(t, cols);
  auto m = std::make_unique<uint8_t[]>(*row_bytes * rows);
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  if (can_quantize(t)) {
    std::vector<float> f(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& v : f) v = nd(rng);
      quantize_row(t, f.data(), m.get() + r * *row_bytes, cols);
    }
    return m;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t i = 0; i < *row_bytes * rows; ++i) m[i] = static_cast<uint8_t>(byte(rng));
  const auto info = *dtype_info(t);
  const uint16_t small = fp32_to_fp16(0.01f);
  for (size_t off = 0; off < *row_bytes * rows; off += info.bytes) {
    uint8_t* b = m.get() + off;
    switch (t) {
      case DType::Q4_1: case DType::Q5_1: case DType::Q4_K: case DType::Q5_K:
        std::memcpy(b, &small, 2);
        std::memcpy(b + 2, &small, 2);
        break;
      case DType::Q5_0: std::memcpy(b, &small, 2); break;
      case DType::Q6_K: std::memcpy(b + 208, &small, 2); break;
      default: break;
    }
  }
  return m;
}

// The matrix of the current case; only the last one is kept (the dram sets are large).
Matrix& matrix(DType t, int64_t rows, int64_t cols, bool dram) {
  static std::unique_ptr<Matrix> last;
  if (last && last->type == t && last->rows == rows && last->cols == cols && (last->copies.size() > 1) == dram)
    return *last;
  last.reset();
  auto m = std::make_unique<Matrix>();
  m->type = t;
  m->rows = rows;
  m->cols = cols;
  m->copies.push_back(make_matrix(t, rows, cols, &m->row_bytes));
  m->bytes = m->row_bytes * rows;
  const size_t n_copies = dram ? std::max<size_t>(2, (kDramFootprint + m->bytes - 1) / m->bytes) : 1;
  while (m->copies.size() < n_copies) {
    auto c = std::make_unique<uint8_t[]>(m->bytes);
    std::memcpy(c.get(), m->copies[0].get(), m->bytes);
    m->copies.push_back(std::move(c));
  }
  last = std::move(m);
  return *last;
}

void set_rate(benchmark::State& state, size_t bytes_per_call) {
  state.counters["GBps"] = benchmark::Counter(static_cast<double>(bytes_per_call) * static_cast<double>(state.iterations()),
                                              benchmark::Counter::kIsRate);
}

// interleave4: call k.fn4 on groups of 4 rows instead of vec_dot_rows (one row at a time).
void bm_rows(benchmark::State& state, DType t, Isa isa, int64_t rows, int64_t cols, bool dram, bool interleave4) {
  const VecDotKernel k = vec_dot_kernel(t, isa);
  Matrix& m = matrix(t, rows, cols, dram);
  std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& v : x) v = nd(rng);
  std::vector<uint8_t> xa(act_row_bytes(k, cols));
  size_t c = 0;
  for (auto _ : state) {
    const void* xp = x.data();
    if (k.quantize) {
      k.quantize(x.data(), xa.data(), cols);
      xp = xa.data();
    }
    if (interleave4) {
      for (int64_t r = 0; r + 4 <= rows; r += 4) k.fn4(cols, y.data() + r, m.copies[c].get() + r * m.row_bytes, m.row_bytes, xp);
    } else {
      vec_dot_rows(k, cols, rows, m.copies[c].get(), m.row_bytes, xp, y.data());
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    c = c + 1 == m.copies.size() ? 0 : c + 1;
  }
  set_rate(state, m.bytes);
  state.SetLabel(std::string(isa_name(k.isa)) + (dram ? " dram x" : " hot x") + std::to_string(m.copies.size()));
}

void bm_read(benchmark::State& state, DType t, int64_t rows, int64_t cols, bool dram) {
  Matrix& m = matrix(t, rows, cols, dram);
  size_t c = 0;
  for (auto _ : state) {
    const uint64_t r = stream_read(m.copies[c].get(), m.bytes);
    benchmark::DoNotOptimize(r);
    c = c + 1 == m.copies.size() ? 0 : c + 1;
  }
  set_rate(state, m.bytes);
  state.SetLabel(std::string(dram ? "dram x" : "hot x") + std::to_string(m.copies.size()));
}

// One-token matmul on Q8_0 / Q4_0 / Q4_K / Q6_K weights stored as 32-row panels (gemm-int8.h; what
// the engine loads on AVX512-VNNI CPUs), one thread: compare with vec_dot_rows.
void bm_panel32(benchmark::State& state, DType t, int64_t rows, int64_t cols, bool dram) {
  kernels_init();
  Matrix& m = matrix(t, rows, cols, dram);
  ThreadPool pool(1);
  const size_t pb = gemm_int8_packed_weight_bytes(t, rows, cols);
  std::vector<std::unique_ptr<uint8_t[]>> packed;
  for (const auto& c : m.copies) {
    packed.push_back(std::make_unique<uint8_t[]>(pb));
    gemm_int8_pack_weights(WeightView{t, rows, cols, m.row_bytes, c.get()}, packed.back().get());
  }
  std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& v : x) v = nd(rng);
  size_t c = 0;
  for (auto _ : state) {
    matmul(WeightView{t, rows, cols, m.row_bytes, packed[c].get(), WeightLayout::Panel32}, x.data(), 1, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    c = c + 1 == packed.size() ? 0 : c + 1;
  }
  set_rate(state, pb);
  state.SetLabel(std::string(dram ? "dram x" : "hot x") + std::to_string(packed.size()));
}

// Whole matmul (matmul.h: the path the model uses) for a step of n tokens on a pool
// of `threads`; GFLOPs counts 2 * rows * cols * n per call. panel: the weights stored
// as 32-row panels (what the engine loads for Q8_0 / Q4_0 / Q4_K / Q6_K on AVX512-VNNI).
void bm_matmul(benchmark::State& state, DType t, int64_t rows, int64_t cols, int64_t n, int threads, bool panel) {
  kernels_init();  // BLAS single-threaded: the pool owns the threads, as in the engine
  Matrix& m = matrix(t, rows, cols, false);
  ThreadPool pool(threads);
  std::vector<float> x(static_cast<size_t>(n * cols)), y(static_cast<size_t>(n * rows));
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& v : x) v = nd(rng);
  WeightView w{t, rows, cols, m.row_bytes, m.copies[0].get()};
  std::vector<uint8_t> packed;
  if (panel && gemm_float_supported(t)) {  // as the engine stores float weights at the AVX2 level
    packed.resize(gemm_float_packed_weight_bytes(t, rows, cols));
    gemm_float_pack_weights(w, packed.data());
    w.data = packed.data();
    w.layout = WeightLayout::Rows8;
  } else if (panel) {  // as the engine stores it (gemm_int8_packable types)
    packed.resize(gemm_int8_packed_weight_bytes(t, rows, cols));
    gemm_int8_pack_weights(w, packed.data());
    w.data = packed.data();
    w.layout = WeightLayout::Panel32;
  }
  for (auto _ : state) {
    matmul(w, x.data(), n, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOPs"] = benchmark::Counter(2.0 * static_cast<double>(rows * cols * n) *
                                                    static_cast<double>(state.iterations()) * 1e-9,
                                                benchmark::Counter::kIsRate);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const struct {
    int64_t rows, cols;
  } shapes[] = {{2048, 5632}, {5632, 2048}};
  const DType types[] = {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K, DType::F16, DType::BF16,
                         DType::F32,  DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q5_K};
  const Isa isas[] = {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni};
  for (const auto& s : shapes) {
    for (bool dram : {true, false}) {
      const std::string where = dram ? "dram" : "hot";
      for (DType t : types) {
        const std::string shape = std::to_string(s.rows) + "x" + std::to_string(s.cols);
        benchmark::RegisterBenchmark(("read/" + std::string(dtype_name(t)) + "/" + shape + "/" + where).c_str(),
                                     bm_read, t, s.rows, s.cols, dram)
            ->Unit(benchmark::kMicrosecond);
        if (gemm_int8_packable(t))
          benchmark::RegisterBenchmark(("panel32/" + std::string(dtype_name(t)) + "/" + shape + "/" + where).c_str(),
                                       bm_panel32, t, s.rows, s.cols, dram)
              ->Unit(benchmark::kMicrosecond);
        for (Isa isa : isas) {
          if (!isa_available(isa, cpu_features())) continue;
          if (vec_dot_kernel(t, isa).isa != isa && isa != Isa::Scalar) continue;  // falls back: same kernel
          for (bool four : {false, true}) {
            if (four && !vec_dot_kernel(t, isa).fn4) continue;
            benchmark::RegisterBenchmark(("vec_dot_rows/" + std::string(dtype_name(t)) + "/" + isa_name(isa) + "/" +
                                          shape + "/" + where + (four ? "/fn4" : ""))
                                             .c_str(),
                                         bm_rows, t, isa, s.rows, s.cols, dram, four)
                ->Unit(benchmark::kMicrosecond);
          }
        }
      }
    }
  }
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K, DType::F16, DType::F32})
    for (bool panel : {false, true}) {
      const bool rows8 = gemm_float_supported(t);
      if (panel && !gemm_int8_packable(t) && !rows8) continue;
      for (int64_t n : {1, 16, 64, 256, 512})
        for (int threads : {1, 2})
          benchmark::RegisterBenchmark(("matmul/" + std::string(dtype_name(t)) + (panel ? (rows8 ? "/rows8" : "/panel32") : "") +
                                        "/2048x5632/n" + std::to_string(n) + "/t" + std::to_string(threads))
                                           .c_str(),
                                       bm_matmul, t, int64_t{2048}, int64_t{5632}, n, threads, panel)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
    }
  benchmark::AddCustomContext("cpu_features", describe());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
