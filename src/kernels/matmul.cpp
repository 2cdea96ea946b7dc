#include "shardlm/kernels/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "shardlm/core/cpu-features.h"
#include "shardlm/kernels/gemm-bf16.h"
#include "shardlm/kernels/gemm-float.h"
#include "shardlm/kernels/gemm-int8.h"
#include "shardlm/kernels/quant.h"
#include "shardlm/kernels/vec-dot.h"

namespace shardlm {

void kernels_init() { openblas_set_num_threads(1); }

namespace {
std::atomic<bool> g_batch_invariant{true};  // RuntimeConfig::batch_invariant's default
}  // namespace

void set_matmul_batch_invariant(bool on) { g_batch_invariant.store(on, std::memory_order_relaxed); }
bool matmul_batch_invariant() { return g_batch_invariant.load(std::memory_order_relaxed); }

namespace {

// Float-activation kernels (F16/BF16 weights) above this many tokens lose to
// dequantize + sgemm (BLAS blocking wins once compute dominates). Integer kernels
// (8-bit activations) stay ahead at every step size measured (pp64..pp512 on the 1.1B
// shape): dequantizing to f32 costs more than their cache-resident dot products.
constexpr int64_t kFloatVecDotMaxTokens = 16;

// The best vec-dot kernel per weight type at the current level (cpu_features(), which
// tests and SHARDLM_ISA may lower), chosen once per level.
const VecDotKernel& kernel_for(DType t) {
  constexpr int kLevels = 4, kTypes = 64;
  static std::once_flag once[kLevels];
  static std::array<std::array<VecDotKernel, kTypes>, kLevels> table;
  const Isa isa = best_isa(cpu_features());
  const int l = static_cast<int>(isa);
  std::call_once(once[l], [l, isa] {
    for (int i = 0; i < kTypes; ++i) table[l][i] = vec_dot_kernel(static_cast<DType>(i), isa);
  });
  const int i = static_cast<int>(t);
  static const VecDotKernel none{};
  return i >= 0 && i < kTypes ? table[l][i] : none;
}

// One weight row -> f32 for the BLAS path: F16 with F16C (8 at a time, the same exact
// values as dequantize_row), everything else through dequantize_row.
#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) void f16c_row(const uint8_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i))));
  if (i < n) dequantize_row(DType::F16, src + 2 * i, dst + i, n - i);
}
#endif

void row_to_f32(DType t, const uint8_t* src, float* dst, int64_t n, bool f16c) {
#if defined(__x86_64__)
  if (t == DType::F16 && f16c) {
    f16c_row(src, dst, n);
    return;
  }
#endif
  (void)f16c;
  dequantize_row(t, src, dst, n);
}

// Rows per sgemv call in the batch-invariant mode (row ranges start at multiples of it).
constexpr int64_t kInvariantRows = 16;

// Dequantize-and-sgemm over rows [r0, r1) (F32 weights are used in place).
void blas_rows(const WeightView& w, const float* x, int64_t n, float* y, int64_t r0, int64_t r1) {
  thread_local std::vector<float> scratch;
  // Sub-chunks of rows keep the f32 scratch small (~1 MiB) for quantized weights.
  // Batch-invariant: blocks of kInvariantRows rows from a multiple of it, so that each
  // row meets sgemv at the same place of a block whatever the thread split.
  const int64_t sub = matmul_batch_invariant() ? kInvariantRows
                      : w.type == DType::F32   ? r1 - r0
                                               : std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(1, w.cols));
  for (int64_t a = r0; a < r1; a += sub) {
    const int64_t b = std::min(r1, a + sub), nr = b - a;
    const float* wf;
    int64_t ldw = w.cols;
    if (w.type == DType::F32) {
      wf = reinterpret_cast<const float*>(w.data + a * w.row_bytes);
      ldw = static_cast<int64_t>(w.row_bytes / 4);
    } else {
      scratch.resize(static_cast<size_t>(nr * w.cols));
      const CpuFeatures f = cpu_features();
      for (int64_t r = 0; r < nr; ++r)
        row_to_f32(w.type, w.data + (a + r) * w.row_bytes, scratch.data() + r * w.cols, w.cols, f.avx && f.f16c);
      wf = scratch.data();
    }
    if (n == 1 || matmul_batch_invariant()) {
      // One token at a time through the same sgemv: a token's row is what it is alone.
      for (int64_t i = 0; i < n; ++i)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(nr), static_cast<int>(w.cols), 1.0f, wf,
                    static_cast<int>(ldw), x + i * w.cols, 1, 0.0f, y + i * w.rows + a, 1);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(nr),
                  static_cast<int>(w.cols), 1.0f, x, static_cast<int>(w.cols), wf, static_cast<int>(ldw), 0.0f,
                  y + a, static_cast<int>(w.rows));
    }
  }
}

// Rows per task: every thread gets a few contiguous pieces (load balance) that are
// large enough to amortise a call.
int64_t grain_for(const WeightView& w, int threads, int64_t min_rows) {
  return std::max<int64_t>(min_rows, w.rows / (4 * std::max(1, threads)));
}

}  // namespace

void matmul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  if (n <= 0 || w.rows == 0) return;
  if (w.layout == WeightLayout::Rows8) {  // packed at the AVX2 level: every step, both modes (gemm-float.h)
    const int64_t groups = (w.rows + kGemmFloatGroupRows - 1) / kGemmFloatGroupRows;
    pool.parallel_for(groups, std::max<int64_t>(8, groups / (4 * pool.size())), [&](int64_t g0, int64_t g1, int) {
      gemm_float_rows(w, x, n, y, w.rows, g0 * kGemmFloatGroupRows, std::min(w.rows, g1 * kGemmFloatGroupRows));
    });
    return;
  }
  const bool panel = w.layout == WeightLayout::Panel32;
  // Batch-invariant: every step size takes the path of a one-token step (Panel32's
  // integer kernel is that path at every size), so no size-dependent GEMM.
  const bool inv = matmul_batch_invariant();
  if (panel || (!inv && n >= kMatmulInt8MinTokens && w.cols % 32 == 0 && gemm_int8_supported(w.type))) {
    thread_local std::vector<uint8_t> xq;  // gemm-int8.h layout
    xq.resize(gemm_int8_packed_x_bytes(n, w.cols));
    uint8_t* xqd = xq.data();  // not `xq` in the lambdas: thread_local per thread
    if (n < kMatmulGemmMinTokens)
      gemm_int8_pack_x(w.type, x, n, w.cols, 0, n, xqd);
    else
      pool.parallel_for(n, 8, [&](int64_t t0, int64_t t1, int) { gemm_int8_pack_x(w.type, x, n, w.cols, t0, t1, xqd); });
    const int64_t panels = (w.rows + kGemmInt8TileRows - 1) / kGemmInt8TileRows;
    // Decode (stored panels, few tokens): a few panels per task, for balance.
    const int64_t grain = panel && n < kMatmulGemmMinTokens ? std::max<int64_t>(1, panels / (4 * pool.size())) : 1;
    pool.parallel_for(panels, grain, [&](int64_t p0, int64_t p1, int) {
      gemm_int8_rows(w, xqd, n, y, w.rows, p0 * kGemmInt8TileRows, std::min(w.rows, p1 * kGemmInt8TileRows));
    });
    return;
  }
  if (!inv && n >= kMatmulGemmMinTokens && w.type != DType::F32 && w.cols % 2 == 0 && can_dequantize(w.type) &&
      gemm_bf16_supported()) {
    thread_local std::vector<uint32_t> xp;  // [ceil(n/16), cols/2, 16] bf16 pairs
    xp.resize(gemm_bf16_packed_x_size(n, w.cols));
    gemm_bf16_pack_x(x, n, w.cols, xp.data());
    const uint32_t* xpd = xp.data();  // not `xp` in the lambda: thread_local per thread
    const int64_t panels = (w.rows + kGemmBf16TileRows - 1) / kGemmBf16TileRows;
    pool.parallel_for(panels, 1, [&](int64_t p0, int64_t p1, int) {
      gemm_bf16_rows(w, xpd, n, y, w.rows, p0 * kGemmBf16TileRows, std::min(w.rows, p1 * kGemmBf16TileRows));
    });
    return;
  }
  const VecDotKernel& k = kernel_for(w.type);
  const bool int_act = k && k.act != DType::F32;
  const bool vec = k && (int_act || inv || n <= kFloatVecDotMaxTokens) && w.cols % k.block == 0;
  if (!vec) {
    if (inv) {
      const int64_t blocks = (w.rows + kInvariantRows - 1) / kInvariantRows;
      pool.parallel_for(blocks, 1, [&](int64_t b0, int64_t b1, int) {
        blas_rows(w, x, n, y, b0 * kInvariantRows, std::min(w.rows, b1 * kInvariantRows));
      });
    } else {
      pool.parallel_for(w.rows, grain_for(w, pool.size(), n == 1 ? 16 : 64),
                        [&](int64_t r0, int64_t r1, int) { blas_rows(w, x, n, y, r0, r1); });
    }
    return;
  }
  // Activations in the kernel's format, once for all threads: [n, act_row_bytes].
  const void* xa = x;
  size_t arb = static_cast<size_t>(w.cols) * sizeof(float);
  thread_local std::vector<uint8_t> xq;
  if (k.quantize) {
    arb = act_row_bytes(k, w.cols);
    xq.resize(arb * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) k.quantize(x + i * w.cols, xq.data() + i * arb, w.cols);
    xa = xq.data();
  }
  const uint8_t* xab = static_cast<const uint8_t*>(xa);
  pool.parallel_for(w.rows, grain_for(w, pool.size(), 16), [&](int64_t r0, int64_t r1, int) {
    thread_local std::vector<float> out;
    // Row blocks small enough to stay in cache while every token passes over them.
    constexpr int64_t kBlock = 16;
    out.resize(kBlock);
    for (int64_t a = r0; a < r1; a += kBlock) {
      const int64_t nr = std::min(kBlock, r1 - a);
      for (int64_t i = 0; i < n; ++i) {
        vec_dot_rows(k, w.cols, nr, w.data + a * w.row_bytes, w.row_bytes, xab + i * arb, out.data());
        std::copy(out.begin(), out.begin() + nr, y + i * w.rows + a);
      }
    }
  });
}

void matmul_ref(const WeightView& w, const float* x, int64_t n, float* y) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    dequantize_row(w.type, w.data + r * w.row_bytes, row.data(), w.cols);
    for (int64_t i = 0; i < n; ++i) {
      double acc = 0;
      for (int64_t c = 0; c < w.cols; ++c) acc += static_cast<double>(row[c]) * x[i * w.cols + c];
      y[i * w.rows + r] = static_cast<float>(acc);
    }
  }
}

}  // namespace shardlm
