#include "shardlm/kernels/matmul.h"

#include <cblas.h>

#include <vector>

#include "shardlm/kernels/quant.h"

namespace shardlm {

void kernels_init() { openblas_set_num_threads(1); }

namespace {

// Rows per task: enough work per chunk to amortize a BLAS call.
int64_t row_grain(const WeightView& w, int64_t n) {
  int64_t per_row = w.cols * std::max<int64_t>(1, n);
  int64_t g = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, per_row));
  return std::min<int64_t>(g, 256);
}

void chunk_product(const WeightView& w, const float* x, int64_t n, float* y, int64_t r0, int64_t r1) {
  const int64_t nr = r1 - r0;
  const float* wf;
  thread_local std::vector<float> scratch;
  if (w.type == DType::F32) {
    wf = reinterpret_cast<const float*>(w.data + r0 * w.row_bytes);
  } else {
    scratch.resize(static_cast<size_t>(nr * w.cols));
    for (int64_t r = 0; r < nr; ++r)
      dequantize_row(w.type, w.data + (r0 + r) * w.row_bytes, scratch.data() + r * w.cols, w.cols);
    wf = scratch.data();
  }
  const int64_t ldw = w.type == DType::F32 ? static_cast<int64_t>(w.row_bytes / 4) : w.cols;
  if (n == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(nr), static_cast<int>(w.cols), 1.0f, wf,
                static_cast<int>(ldw), x, 1, 0.0f, y + r0, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(nr),
                static_cast<int>(w.cols), 1.0f, x, static_cast<int>(w.cols), wf, static_cast<int>(ldw), 0.0f,
                y + r0, static_cast<int>(w.rows));
  }
}

}  // namespace

void matmul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  if (n <= 0 || w.rows == 0) return;
  pool.parallel_for(w.rows, row_grain(w, n), [&](int64_t r0, int64_t r1, int) { chunk_product(w, x, n, y, r0, r1); });
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
