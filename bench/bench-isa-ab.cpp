// bench-isa-ab: one matmul shape at every kernel level of this machine, interleaved
// (each repetition runs every level once, in turn), so that on a shared machine the
// levels see the same load and their ratios stay meaningful while the absolute
// figures drift. A benchmark program, not a test.
//
//   build/bench-isa-ab [-r REPS] [-t THREADS] [--rows 5632] [--cols 2048] [--tokens 1,8,128]
//                      [--types Q4_0,Q8_0,...]
//
// Time is CPU time (CLOCK_PROCESS_CPUTIME_ID: with -t 1 the matmul runs on the calling
// thread alone), so a level is charged for the cycles it used, not for the time the
// scheduler gave to other processes: on a machine shared by more runnable threads than
// cores, wall time says more about the neighbours than about the kernel. Per (weight
// type, tokens per step): the median GMAC per CPU-second of each level over the
// repetitions, and each level's median ratio to the float path at the avx2 level
// ("avx2 rows": the weights left in rows, as every AVX2 CPU ran before the AVX2
// panel kernel; for F16 "avx2 vec-dot", what F16 rows run without gemm-float.h). Panel32
// and Rows8 weights are packed once (the layout is the same at every level).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "shardlm/core/cpu-features.h"
#include "shardlm/core/thread-pool.h"
#include "shardlm/kernels/gemm-float.h"
#include "shardlm/kernels/gemm-int8.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/kernels/quant.h"
#include "shardlm/kernels/vec-dot.h"

using namespace shardlm;

namespace {

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Path {
  std::string name;  // shown
  std::string level;  // mask_features level
  bool panel;         // Panel32 (float types: Rows8) weights
  bool vec_dot = false;  // the vec-dot kernel per token (F16 rows without gemm-float.h)
};

// What matmul runs for float rows at the avx2 level without gemm-float.h (batch-invariant
// mode): per block of 16 rows, the vec-dot kernel for every token.
void vec_dot_matmul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  const VecDotKernel k = vec_dot_kernel(w.type);
  pool.parallel_for(w.rows, std::max<int64_t>(16, w.rows / (4 * pool.size())), [&](int64_t r0, int64_t r1, int) {
    float out[16];
    for (int64_t a = r0; a < r1; a += 16) {
      const int64_t nr = std::min<int64_t>(16, r1 - a);
      for (int64_t i = 0; i < n; ++i) {
        vec_dot_rows(k, w.cols, nr, w.data + a * w.row_bytes, w.row_bytes, x + i * w.cols, out);
        std::copy(out, out + nr, y + i * w.rows + a);
      }
    }
  });
}

constexpr DType kAllTypes[] = {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K,
                               DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::F16, DType::BF16, DType::F32};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-isa-ab: matmul at every kernel level, interleaved"};
  int reps = 5, threads = 1;
  int64_t rows = 5632, cols = 2048;
  app.add_option("-r,--repetitions", reps)->check(CLI::PositiveNumber);
  app.add_option("-t,--threads", threads)->check(CLI::PositiveNumber);
  app.add_option("--rows", rows)->check(CLI::PositiveNumber);
  app.add_option("--cols", cols)->check(CLI::PositiveNumber);
  std::vector<int64_t> tokens = {1, 8, 128};
  app.add_option("--tokens", tokens, "tokens per step, one table row each")->delimiter(',')->check(CLI::PositiveNumber);
  std::vector<std::string> type_names;
  app.add_option("--types", type_names, "weight types (default: every type below)")->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  if (cols % 256 != 0) {
    std::fprintf(stderr, "--cols must be a multiple of 256 (K quants)\n");
    return 2;
  }
  kernels_init();
  ThreadPool pool(threads);
  const CpuFeatures native = detect_cpu_features();
  auto has = [&](const char* level) {
    const std::string want = std::string(level) == "vnni" ? "avx512vnni" : level;
    return kernel_level(mask_features(native, level).value()) == want;
  };
  std::mt19937 g(1);
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> wf(static_cast<size_t>(rows * cols));
  for (auto& v : wf) v = nd(g);
  std::printf("| type | tokens | path | GMAC per CPU-s (median of %d) | ratio to avx2 rows (median) |\n| --- | ---: | --- | ---: | ---: |\n",
              reps);
  std::vector<DType> types(std::begin(kAllTypes), std::end(kAllTypes));
  if (!type_names.empty()) {
    types.clear();
    for (const std::string& name : type_names) {
      auto it = std::find_if(std::begin(kAllTypes), std::end(kAllTypes), [&](DType d) { return name == dtype_name(d); });
      if (it == std::end(kAllTypes)) {
        std::fprintf(stderr, "--types: unknown type '%s'\n", name.c_str());
        return 2;
      }
      types.push_back(*it);
    }
  }
  for (DType t : types) {
    const size_t rb = dtype_row_bytes(t, cols);
    std::vector<uint8_t> q(rb * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) (void)quantize_row(t, wf.data() + r * cols, q.data() + r * rb, cols);
    std::vector<uint8_t> packed;
    std::vector<Path> paths = {{"avx2 rows", "avx2", false}};
    set_cpu_features(mask_features(native, "avx2").value());
    const bool fp = t == DType::F16 || t == DType::BF16 || t == DType::F32;
    if (fp) {
      paths = {{"avx2 vec-dot (rows)", "avx2", false, true}};
      if (gemm_float_supported(t)) {
        packed.resize(gemm_float_packed_weight_bytes(t, rows, cols));
        gemm_float_pack_weights(WeightView{t, rows, cols, rb, q.data()}, packed.data());
        paths.push_back({"avx2 gemm-float (Rows8)", "avx2", true});
      }
    } else if (gemm_int8_packable(t)) {
      packed.resize(gemm_int8_packed_weight_bytes(t, rows, cols));
      gemm_int8_pack_weights(WeightView{t, rows, cols, rb, q.data()}, packed.data());
      paths.push_back({"avx2 panel", "avx2", true});
      if (has("avxvnni")) paths.push_back({"avxvnni panel", "avxvnni", true});
    }
    // AVX512-VNNI keeps Q4_1 / Q5_0 / Q5_1 as rows (their panels are the AVX2 tile's).
    const bool vnni_rows = t == DType::Q4_1 || t == DType::Q5_0 || t == DType::Q5_1;
    if (has("vnni")) paths.push_back({"vnni", "vnni", !fp && !packed.empty() && !vnni_rows});
    if (!has("avx2")) paths = {{"scalar rows", "scalar", false}};
    for (int64_t n : tokens) {
      std::vector<float> x(static_cast<size_t>(n * cols)), y(static_cast<size_t>(n * rows));
      for (auto& v : x) v = nd(g);
      std::vector<std::vector<double>> secs(paths.size());
      for (int r = 0; r <= reps; ++r)
        for (size_t p = 0; p < paths.size(); ++p) {
          set_cpu_features(mask_features(native, paths[p].level).value());
          WeightView w{t, rows, cols, rb, paths[p].panel ? packed.data() : q.data(),
                       !paths[p].panel ? WeightLayout::Rows : fp ? WeightLayout::Rows8 : WeightLayout::Panel32};
          const int inner = n < 8 ? 8 : 1;  // short steps: several per sample
          const double t0 = cpu_seconds();
          for (int k = 0; k < inner; ++k)
            if (paths[p].vec_dot)
              vec_dot_matmul(w, x.data(), n, y.data(), pool);
            else
              matmul(w, x.data(), n, y.data(), pool);
          const double dt = (cpu_seconds() - t0) / inner;
          if (r > 0) secs[p].push_back(dt);  // repetition 0 warms caches and scratch
        }
      const double macs = static_cast<double>(rows) * static_cast<double>(cols) * static_cast<double>(n);
      for (size_t p = 0; p < paths.size(); ++p) {
        std::vector<double> ratio;
        for (size_t i = 0; i < secs[p].size(); ++i) ratio.push_back(secs[0][i] / secs[p][i]);
        std::printf("| %s | %lld | %s | %.1f | %.2f |\n", dtype_name(t), static_cast<long long>(n), paths[p].name.c_str(),
                    macs / median(secs[p]) / 1e9, median(ratio));
      }
    }
  }
  set_cpu_features(native);
  std::printf("\n%d thread(s), weight [%lld, %lld]; detected level %s\n", threads, static_cast<long long>(rows),
              static_cast<long long>(cols), kernel_level(native));
  return 0;
}
