// Matrix products against weights stored in any dequantizable type.
#pragma once
#include <cstddef>
#include <cstdint>

#include "shardlm/core/dtype.h"
#include "shardlm/core/thread-pool.h"

namespace shardlm {

// A non-owning view of a 2-D weight [rows, cols], rows contiguous, row_bytes apart.
struct WeightView {
  DType type = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
  const uint8_t* data = nullptr;
};

// Set BLAS to one thread: the pool owns parallelism (no oversubscription).
void kernels_init();

// y[n, w.rows] = x[n, w.cols] · wᵀ. Rows of w are split over the pool; F32 weights go
// straight to BLAS sgemm, other types are dequantized a chunk at a time into
// per-thread scratch and multiplied with sgemm.
void matmul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);

// Plain reference (double accumulation), for tests.
void matmul_ref(const WeightView& w, const float* x, int64_t n, float* y);

}  // namespace shardlm
