// Internal to src/kernels: what the AVX-512 integer GEMM (gemm-int8.cpp) and its AVX2
// twin (gemm-int8-avx2.cpp) share — the packed-activation layout — and the AVX2 entry
// points. Formulas and the Panel32 weight layout are in gemm-int8.h.
#pragma once
#include <cstddef>
#include <cstdint>

#include "shardlm/kernels/matmul.h"

namespace shardlm::gemm_int8_detail {

constexpr int64_t kBlock = 32;
constexpr int64_t kPanelRows = 32;

// Q4_1, Q5_0, Q5_1: stored as Panel32 only for the AVX2 tile (CPUs without AVX512-VNNI,
// whose kernel keeps them as Rows).
constexpr bool avx2_panel_only(DType t) { return t == DType::Q4_1 || t == DType::Q5_0 || t == DType::Q5_1; }
// Rows-layout w of one of those types -> dst (32 * row_bytes per 32 rows) in Panel32.
void pack_q45_panels(const WeightView& w, uint8_t* dst);

// Byte offsets of the per-(token, block) arrays after the codes: dx, dx * sum q, and
// -zp * sum q over each half of 16 (the whole block's is their sum).
struct XLayout {
  int64_t nb;  // blocks per token
  size_t d, s, z2, bytes;
  XLayout(int64_t n, int64_t cols) : nb(cols / kBlock) {
    d = static_cast<size_t>(n * cols);
    s = d + static_cast<size_t>(n * nb) * 4;
    z2 = s + static_cast<size_t>(n * nb) * 4;
    bytes = z2 + static_cast<size_t>(n * nb) * 8;
  }
};

// AVX2 + FMA + F16C. Tokens [t0, t1) -> their part of xp, the same bytes as the
// AVX-512 packer writes.
void pack_x_avx2(int zp, const float* x, int64_t n, int64_t cols, int64_t t0, int64_t t1, uint8_t* xp);

// Rows [r0, r1) (r0 a multiple of 32) of a Panel32 weight (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K;
// panel_bytes per stored panel) against n packed tokens: y[t * ldy + r]. avx_vnni: use
// VEX vpdpbusd (the CPU has AVX-VNNI); else vpmaddubsw / vpmaddwd. Both give the same
// bits as the AVX-512 kernel (the same integer sums, the same f32 operations in order).
void rows_stored_avx2(const WeightView& w, size_t panel_bytes, const uint8_t* xp, int64_t n, float* y, int64_t ldy,
                      int64_t r0, int64_t r1, bool avx_vnni);

}  // namespace shardlm::gemm_int8_detail
