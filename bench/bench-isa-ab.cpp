// bench-isa-ab: one matmul shape at every kernel level of this machine, interleaved
// (each repetition runs every level once, in turn), so that on a shared machine the
// levels see the same load and their ratios stay meaningful while the absolute
// figures drift. A benchmark program, not a test.
//
//   build/bench-isa-ab [-r REPS] [-t THREADS] [--rows 5632] [--cols 2048]
//
// Time is CPU time (CLOCK_PROCESS_CPUTIME_ID: with -t 1 the matmul runs on the calling
// thread alone), so a level is charged for the cycles it used, not for the time the
// scheduler gave to other processes: on a machine shared by more runnable threads than
// cores, wall time says more about the neighbours than about the kernel. Per (weight
// type, tokens per step): the median GMAC per CPU-second of each level over the
// repetitions, and each level's median ratio to the float path at the avx2 level
// ("avx2 rows": the weights left in rows, as every AVX2 CPU ran before the AVX2
// panel kernel). Panel32 weights are packed once (the layout is the same at every level).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "shardlm/core/cpu-features.h"
#include "shardlm/core/thread-pool.h"
#include "shardlm/kernels/gemm-int8.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/kernels/quant.h"

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
  bool panel;         // Panel32 weights
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-isa-ab: matmul at every kernel level, interleaved"};
  int reps = 5, threads = 1;
  int64_t rows = 5632, cols = 2048;
  app.add_option("-r,--repetitions", reps)->check(CLI::PositiveNumber);
  app.add_option("-t,--threads", threads)->check(CLI::PositiveNumber);
  app.add_option("--rows", rows)->check(CLI::PositiveNumber);
  app.add_option("--cols", cols)->check(CLI::PositiveNumber);
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
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16}) {
    const size_t rb = dtype_row_bytes(t, cols);
    std::vector<uint8_t> q(rb * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) (void)quantize_row(t, wf.data() + r * cols, q.data() + r * rb, cols);
    std::vector<uint8_t> packed;
    std::vector<Path> paths = {{"avx2 rows", "avx2", false}};
    set_cpu_features(mask_features(native, "avx2").value());
    if (gemm_int8_packable(t)) {
      packed.resize(gemm_int8_packed_weight_bytes(t, rows, cols));
      gemm_int8_pack_weights(WeightView{t, rows, cols, rb, q.data()}, packed.data());
      paths.push_back({"avx2 panel", "avx2", true});
      if (has("avxvnni")) paths.push_back({"avxvnni panel", "avxvnni", true});
    }
    if (has("vnni")) paths.push_back({"vnni", "vnni", !packed.empty()});
    if (!has("avx2")) paths = {{"scalar rows", "scalar", false}};
    for (int64_t n : {int64_t{1}, int64_t{8}, int64_t{128}}) {
      std::vector<float> x(static_cast<size_t>(n * cols)), y(static_cast<size_t>(n * rows));
      for (auto& v : x) v = nd(g);
      std::vector<std::vector<double>> secs(paths.size());
      for (int r = 0; r <= reps; ++r)
        for (size_t p = 0; p < paths.size(); ++p) {
          set_cpu_features(mask_features(native, paths[p].level).value());
          WeightView w{t, rows, cols, rb, paths[p].panel ? packed.data() : q.data(),
                       paths[p].panel ? WeightLayout::Panel32 : WeightLayout::Rows};
          const int inner = n == 1 ? 8 : 1;  // decode: several steps per sample
          const double t0 = cpu_seconds();
          for (int k = 0; k < inner; ++k) matmul(w, x.data(), n, y.data(), pool);
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
