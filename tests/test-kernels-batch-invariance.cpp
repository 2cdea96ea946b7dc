// The batch-invariance rule of matmul (kernels/matmul.h): a token's output row depends
// only on the weight and that token's activations — bit for bit the same whether the
// token is computed alone (n = 1), with any number of other tokens in the step (the
// vec-dot, integer-GEMM, BF16-GEMM and BLAS paths each cross their size thresholds
// here), and with any thread count. Greedy text then does not depend on what else
// shares the step (issue 19 point 1). Every weight type we can quantize, both layouts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "shardlm/core/cpu-features.h"
#include "shardlm/kernels/gemm-float.h"
#include "shardlm/kernels/gemm-int8.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/kernels/quant.h"
#include "randn.h"

using namespace shardlm;

namespace {

struct Weight {
  std::vector<uint8_t> bytes;
  WeightView view;
};

// A [rows, cols] weight of type t in the given layout (nullopt-like: empty bytes when
// the type or layout is not available here).
Weight make_weight(DType t, int64_t rows, int64_t cols, WeightLayout layout) {
  Weight w;
  auto wf = randn(static_cast<size_t>(rows * cols), 11);
  const size_t rb = dtype_row_bytes(t, cols);
  std::vector<uint8_t> q(rb * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r)
    if (!quantize_row(t, wf.data() + r * cols, q.data() + r * rb, cols)) return w;
  w.view = WeightView{t, rows, cols, rb, nullptr};
  if (layout == WeightLayout::Panel32) {
    w.view.data = q.data();
    w.bytes.resize(gemm_int8_packed_weight_bytes(t, rows, cols));
    gemm_int8_pack_weights(w.view, w.bytes.data());
    w.view.layout = WeightLayout::Panel32;
  } else if (layout == WeightLayout::Rows8) {
    w.view.data = q.data();
    w.bytes.resize(gemm_float_packed_weight_bytes(t, rows, cols));
    gemm_float_pack_weights(w.view, w.bytes.data());
    w.view.layout = WeightLayout::Rows8;
  } else {
    w.bytes = std::move(q);
  }
  w.view.data = w.bytes.data();
  return w;
}

// y[n, rows] of one batched call against each token alone, byte for byte: the first
// difference, or "" when every row is the same.
std::string rows_as_alone(const WeightView& w, const std::vector<float>& x, int64_t n, ThreadPool& batch_pool,
                          ThreadPool& alone_pool, const std::string& what) {
  std::vector<float> y(static_cast<size_t>(n * w.rows)), y1(static_cast<size_t>(w.rows));
  matmul(w, x.data(), n, y.data(), batch_pool);
  for (int64_t i = 0; i < n; ++i) {
    matmul(w, x.data() + i * w.cols, 1, y1.data(), alone_pool);
    for (int64_t r = 0; r < w.rows; ++r) {
      const float a = y[static_cast<size_t>(i * w.rows + r)], b = y1[static_cast<size_t>(r)];
      if (std::memcmp(&a, &b, sizeof a) != 0)
        return what + ": token " + std::to_string(i) + " of " + std::to_string(n) + ", row " + std::to_string(r) + ": " +
               std::to_string(a) + " in the batch, " + std::to_string(b) + " alone";
    }
  }
  return "";
}

// One failure per weight type and layout (the first case that differs), so that the
// report names every type that breaks the rule.
struct Failures {
  std::vector<std::string> seen;
  void check(const std::string& key, const std::string& diff) {
    if (diff.empty() || std::find(seen.begin(), seen.end(), key) != seen.end()) return;
    seen.push_back(key);
    ADD_FAILURE() << "batch invariance broken: " << diff;
  }
};

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1,
                        DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};
// Token counts on both sides of every threshold (vec-dot / integer GEMM at
// kMatmulInt8MinTokens, float vec-dot / BLAS at 16, GEMMs at kMatmulGemmMinTokens).
const int64_t kCounts[] = {2, 3, 4, 7, 8, 9, 16, 17, 31, 32, 33, 70};

}  // namespace

TEST(BatchInvariance, OnByDefault) { EXPECT_TRUE(matmul_batch_invariant()); }

TEST(BatchInvariance, EveryTypeRowsLayout) {
  kernels_init();
  ThreadPool one(1), three(3);
  Failures f;
  int tested = 0;
  for (DType t : kTypes) {
    if (!can_quantize(t)) continue;
    for (int64_t rows : {1, 5, 33, 130, 300})
      for (int64_t cols : {256, 512}) {
        Weight w = make_weight(t, rows, cols, WeightLayout::Rows);
        if (w.bytes.empty()) continue;
        for (int64_t n : kCounts) {
          auto x = randn(static_cast<size_t>(n * cols), static_cast<uint32_t>(n));
          const std::string what = std::string(dtype_name(t)) + " " + std::to_string(rows) + "x" + std::to_string(cols);
          f.check(dtype_name(t), rows_as_alone(w.view, x, n, three, three, what + " (3 threads)"));
          f.check(dtype_name(t), rows_as_alone(w.view, x, n, three, one, what + " (batch on 3 threads, alone on 1)"));
          ++tested;
        }
      }
  }
  EXPECT_GT(tested, 0);
}

TEST(BatchInvariance, Panel32Layout) {
  kernels_init();
  ThreadPool one(1), three(3);
  Failures f;
  int tested = 0;
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    if (!gemm_int8_packable(t)) continue;
    for (int64_t rows : {32, 50, 130})
      for (int64_t n : kCounts) {
        Weight w = make_weight(t, rows, 256, WeightLayout::Panel32);
        if (w.bytes.empty()) continue;
        auto x = randn(static_cast<size_t>(n * 256), static_cast<uint32_t>(n + 100));
        f.check(dtype_name(t), rows_as_alone(w.view, x, n, three, one, std::string(dtype_name(t)) + " Panel32 " +
                                                                       std::to_string(rows)));
        ++tested;
      }
  }
  if (tested == 0) GTEST_SKIP() << "no Panel32 type on this CPU (cpu_features: " << describe() << ")";
}

// The lower kernel levels too (SHARDLM_ISA's names), so an AVX-512 machine checks the
// AVX2 paths: F32 / F16 / BF16 rows, Rows8 (gemm-float.h, packed where the level is
// AVX2) and every Panel32 type of the level (Q4_1 / Q5_0 / Q5_1 panels below
// AVX512-VNNI), on odd shapes.
TEST(BatchInvariance, EveryLevelFloatAndPanels) {
  kernels_init();
  const CpuFeatures native = detect_cpu_features();
  ThreadPool one(1), three(3);
  Failures f;
  int tested = 0;
  for (const char* level : {"scalar", "avx2", "avxvnni", "avx512", "vnni"}) {
    set_cpu_features(mask_features(native, level).value());
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4_K,
                    DType::Q6_K}) {
      const bool panel = t != DType::F32 && t != DType::F16 && t != DType::BF16;
      if (panel && !gemm_int8_packable(t)) continue;
      std::vector<WeightLayout> layouts{panel ? WeightLayout::Panel32 : WeightLayout::Rows};
      if (!panel && gemm_float_supported(t)) layouts.push_back(WeightLayout::Rows8);
      for (WeightLayout layout : layouts)
        for (int64_t rows : {5, 45, 70})
          for (int64_t cols : {int64_t{256}, panel ? int64_t{512} : int64_t{101}})
            for (int64_t n : {2, 3, 4, 5, 6, 7, 17}) {
              Weight w = make_weight(t, rows, cols, layout);
              if (w.bytes.empty()) continue;
              auto x = randn(static_cast<size_t>(n * cols), static_cast<uint32_t>(n + 200));
              const std::string key = std::string(level) + " " + dtype_name(t);
              const char* name = layout == WeightLayout::Panel32 ? " Panel32 " : layout == WeightLayout::Rows8 ? " Rows8 " : " ";
              f.check(key, rows_as_alone(w.view, x, n, three, one, key + name + std::to_string(rows) + "x" + std::to_string(cols)));
              ++tested;
            }
    }
  }
  set_cpu_features(native);
  EXPECT_GT(tested, 0);
}
