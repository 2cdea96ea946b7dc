// F16, BF16 and F32 weights through matmul at every kernel level of this machine
// (SHARDLM_ISA's names), on odd shapes (rows not a multiple of any tile, columns not a
// multiple of 8, token counts with partial tiles), single and multi row, in the file's
// row layout and, at the AVX2 level, in the Rows8 layout the loader stores there:
//   - against a double-precision reference within the documented f32 bound;
//   - Rows8 (gemm-float.h's kernel): bit for bit equal to a scalar emulation of the
//     documented math (fused multiply-adds in column order from +0), which also makes
//     every row independent of the step, the row range and the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "shardlm/core/cpu-features.h"
#include "shardlm/kernels/gemm-float.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/kernels/quant.h"
#include "randn.h"

using namespace shardlm;

namespace {

// The documented math of one output, in scalar code.
float emulate(const float* w, const float* x, int64_t cols) {
  float acc = 0.0f;
  for (int64_t k = 0; k < cols; ++k) acc = std::fma(w[k], x[k], acc);
  return acc;
}

const DType kTypes[] = {DType::F16, DType::BF16, DType::F32};

struct Case {
  std::vector<uint8_t> q;       // rows in the type
  std::vector<uint8_t> packed;  // the same rows in Rows8
  std::vector<float> wf;        // the same values in f32 (exact)
  WeightView w, wp;
};

Case make(DType t, int64_t rows, int64_t cols) {
  Case c;
  auto v = randn(static_cast<size_t>(rows * cols), static_cast<uint32_t>(rows * 31 + cols));
  const size_t rb = dtype_row_bytes(t, cols);
  c.q.resize(rb * static_cast<size_t>(rows));
  c.wf.resize(v.size());
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_TRUE(quantize_row(t, v.data() + r * cols, c.q.data() + r * rb, cols));
    dequantize_row(t, c.q.data() + r * rb, c.wf.data() + r * cols, cols);
  }
  c.w = WeightView{t, rows, cols, rb, c.q.data()};
  c.packed.resize(gemm_float_packed_weight_bytes(t, rows, cols));
  gemm_float_pack_weights(c.w, c.packed.data());
  c.wp = WeightView{t, rows, cols, rb, c.packed.data(), WeightLayout::Rows8};
  return c;
}

const char* const kLevels[] = {"scalar", "avx2", "avxvnni", "avx512", "vnni"};

}  // namespace

TEST(GemmFloat, EveryLevelWithinBoundOfDoubleReference) {
  kernels_init();
  const CpuFeatures native = detect_cpu_features();
  ThreadPool pool(3);
  int avx2_cases = 0;
  for (bool invariant : {true, false}) {
    set_matmul_batch_invariant(invariant);
    for (const char* level : kLevels) {
      set_cpu_features(mask_features(native, level).value());
      for (DType t : kTypes) {
      const bool kernel = gemm_float_supported(t);
      ASSERT_EQ(kernel, std::string(kernel_level(cpu_features())) == "avx2" ||
                            std::string(kernel_level(cpu_features())) == "avxvnni")
          << level;
      for (int64_t rows : {1, 3, 5, 13, 33, 70})
        for (int64_t cols : {1, 7, 8, 9, 100, 577})
          for (int64_t n : {1, 2, 3, 4, 5, 7, 20}) {
            Case c = make(t, rows, cols);
            auto x = randn(static_cast<size_t>(n * cols), static_cast<uint32_t>(n + 7 * cols));
            std::vector<float> yr(static_cast<size_t>(n * rows));
            matmul_ref(c.w, x.data(), n, yr.data());
            for (bool packed : {false, true}) {
              if (packed && !kernel) continue;  // the loader packs Rows8 only at the AVX2 level
              std::vector<float> y(static_cast<size_t>(n * rows), -7.0f);
              matmul(packed ? c.wp : c.w, x.data(), n, y.data(), pool);
              avx2_cases += packed;
              for (int64_t i = 0; i < n; ++i)
                for (int64_t r = 0; r < rows; ++r) {
                  double mag = 0;
                  for (int64_t k = 0; k < cols; ++k) mag += std::fabs(c.wf[r * cols + k] * x[i * cols + k]);
                  // vec-dot.h's float bound (rows), gemm-float.h's cols * 2^-24 (Rows8), with margin.
                  const double bound = (packed ? static_cast<double>(cols) / 2 : static_cast<double>(cols) / 8) + 64;
                  const size_t k = static_cast<size_t>(i * rows + r);
                  ASSERT_NEAR(y[k], yr[k], bound * std::ldexp(mag, -23) + 1e-30)
                      << level << " " << dtype_name(t) << (packed ? " Rows8" : " rows") << (invariant ? "" : " (speed paths)") << " " << rows
                      << "x" << cols << " n=" << n << " token " << i << " row " << r;
                }
            }
          }
      }
    }
  }
  set_cpu_features(native);
  set_matmul_batch_invariant(true);
  if (avx2_cases == 0) GTEST_SKIP() << "no AVX2 + FMA + F16C here (cpu_features: " << describe(native) << ")";
}

TEST(GemmFloat, Avx2KernelEqualsScalarEmulationBitForBit) {
  kernels_init();
  const CpuFeatures native = detect_cpu_features();
  set_cpu_features(mask_features(native, "avx2").value());
  if (!gemm_float_supported(DType::F16)) {
    set_cpu_features(native);
    GTEST_SKIP() << "no AVX2 + FMA + F16C here (cpu_features: " << describe(native) << ")";
  }
  ThreadPool one(1), three(3);
  for (DType t : kTypes)
  for (int64_t rows : {1, 2, 7, 9, 31, 45, 70, 130})
    for (int64_t cols : {3, 16, 23, 256, 261})
      for (int64_t n : {1, 2, 3, 4, 5, 6, 8, 13}) {
        Case c = make(t, rows, cols);
        auto x = randn(static_cast<size_t>(n * cols), static_cast<uint32_t>(3 * n + cols));
        // Direct calls over ranges of one group and of three, and matmul on 1 and 3 threads.
        std::vector<float> ya(static_cast<size_t>(n * rows)), yb(ya.size()), yc(ya.size()), yd(ya.size());
        for (int64_t r0 = 0; r0 < rows; r0 += 8) gemm_float_rows(c.wp, x.data(), n, ya.data(), rows, r0, std::min(rows, r0 + 8));
        for (int64_t r0 = 0; r0 < rows; r0 += 24) gemm_float_rows(c.wp, x.data(), n, yd.data(), rows, r0, std::min(rows, r0 + 24));
        matmul(c.wp, x.data(), n, yb.data(), one);
        matmul(c.wp, x.data(), n, yc.data(), three);
        for (int64_t i = 0; i < n; ++i)
          for (int64_t r = 0; r < rows; ++r) {
            const float want = emulate(c.wf.data() + r * cols, x.data() + i * cols, cols);
            const size_t k = static_cast<size_t>(i * rows + r);
            for (float got : {ya[k], yb[k], yc[k], yd[k]})
              ASSERT_EQ(std::memcmp(&got, &want, sizeof got), 0)
                  << dtype_name(t) << " " << rows << "x" << cols << " n=" << n << " token " << i << " row " << r << ": " << got << " vs " << want;
          }
      }
  set_cpu_features(native);
}
