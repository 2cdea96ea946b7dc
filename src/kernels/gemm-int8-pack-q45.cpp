// Q4_1 / Q5_0 / Q5_1 rows -> the Panel32 form of the AVX2 integer tile (layouts in
// gemm-int8.h). Baseline code: it runs once at load (weights-load.cpp pack_panels).
#include <cstring>

#include "kernels/gemm-int8-avx2.h"

namespace shardlm::gemm_int8_detail {

namespace {

// One type's block: bytes, and where its m, qh and qs start (-1: none).
struct Q45 {
  int64_t bytes, m, qh, qs;
};

Q45 q45(DType t) {
  switch (t) {
    case DType::Q4_1: return {20, 2, -1, 4};
    case DType::Q5_0: return {22, -1, 2, 6};
    default: return {24, 2, 4, 8};  // Q5_1
  }
}

}  // namespace

void pack_q45_panels(const WeightView& w, uint8_t* dst) {
  const Q45 f = q45(w.type);
  const int64_t nb = w.cols / kBlock, panels = (w.rows + kPanelRows - 1) / kPanelRows;
  const int64_t codes = f.m >= 0 ? 128 : 64;  // after d (and m)
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* o = dst + (p * nb + b) * kPanelRows * f.bytes;
      for (int r = 0; r < kPanelRows; ++r) {
        const int64_t row = p * kPanelRows + r;
        uint8_t blk[24] = {};  // a zero row past the end: d = m = 0, codes 0
        if (row < w.rows) std::memcpy(blk, w.data + row * w.row_bytes + b * f.bytes, static_cast<size_t>(f.bytes));
        std::memcpy(o + 2 * r, blk, 2);
        if (f.m >= 0) std::memcpy(o + 64 + 2 * r, blk + f.m, 2);
        // Step v (elements 4v..4v+3 low nibbles, 16+4v.. high): dword v of qs, as Q4_0.
        for (int v = 0; v < 4; ++v) std::memcpy(o + codes + (v * kPanelRows + r) * 4, blk + f.qs + 4 * v, 4);
        if (f.qh < 0) continue;
        uint32_t qh;  // bit e: the fifth bit of element e
        std::memcpy(&qh, blk + f.qh, 4);
        uint8_t bits[4] = {};  // byte i, bit k: element 4k + i
        for (int k = 0; k < 8; ++k)
          for (int i = 0; i < 4; ++i) bits[i] = static_cast<uint8_t>(bits[i] | ((qh >> (4 * k + i)) & 1u) << k);
        std::memcpy(o + codes + 512 + r * 4, bits, 4);
      }
    }
}

}  // namespace shardlm::gemm_int8_detail
