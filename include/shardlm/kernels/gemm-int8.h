// Multi-token matrix products with 8-bit integer dot products (AVX512-VNNI vpdpbusd):
// the prompt-processing path for the weight types whose 32-element blocks are
// integer codes with one scale (and for some an offset): Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1, Q4_K, Q5_K. CPUs with AVX2 but not AVX512-VNNI run the stored panels (Q8_0,
// Q4_0, Q4_K, Q6_K) through the AVX2 tile of gemm-int8-avx2.cpp (vpmaddubsw, or VEX
// vpdpbusd with AVX-VNNI), with the same results bit for bit.
//
// vpdpbusd does 64 multiply-adds per instruction, twice vdpbf16ps (gemm-bf16.h), at
// the same rate on the CPUs measured (Zen 4: 1 per cycle each). Each 32-element block
// then needs a convert, a multiply and an FMA per (16 rows, token) to apply its
// scales; with them, a register-only loop reaches 186 GMAC/s per core against 116 for
// vdpbf16ps's peak (docs/benchmarks.md).
//
// Weight w = d_b * (u - zp) + m_b for the code u (0..255) of 32-element block b:
//   Q8_0: u = q + 128, zp 128        Q4_0: u = nibble, zp 8     Q5_0: u = 5 bits, zp 16
//   Q4_1, Q5_1: u = code, zp 0, m_b = m     Q4_K, Q5_K: u = code, zp 0, d_b = d*sc_j,
//   m_b = -dmin*mn_j (sub-block j).
// Activations x are quantized per token and 32-block like the decode kernels' Q8_0:
// dx = amax/127, q = round(x/dx) in [-127, 127]. Then for a row and a token
//   y = sum_b d_b*dx_b * (sum_k u_k q_k - zp*sum_k q_k) + m_b * dx_b * sum_k q_k,
// where the integer part is exact in int32 and -zp*sum q is the accumulator's start.
//
// Layouts:
//   activations (gemm_int8_pack_x): per token, cols int8 codes; then per (token,
//     block) dx (f32), dx*sum q (f32) and -zp*sum q (int32);
//   weight panel (internal): 32 rows over all columns, codes in [cols/4][32 rows][4]
//     (one 64-byte vector holds 4 consecutive codes of 16 rows), and d_b, m_b in
//     [blocks][32]; built once per 32 rows and applied to every token from L2.
// Register tile: 32 rows (2 vectors of 16 lanes) x 6 tokens: 12 int32 accumulators
// for the current block and 12 f32 sums; activation codes are broadcast 4 at a time.
//
// Stored panels (WeightLayout::Panel32: Q8_0, Q4_0, Q4_K, Q6_K; below AVX512-VNNI also
// Q4_1, Q5_0, Q5_1, which only the AVX2 tile reads): the weight is repacked
// once at load into the panel form, so no step rebuilds it and decode streams each
// panel once with no per-row horizontal sums. Rows are padded with zero rows to a
// multiple of 32; per panel, in column order:
//   Q8_0 / Q4_0, per block (32 * block bytes, the same bytes as the rows):
//     32 x f16 d (row order), then the codes as [step][32 rows][4 bytes]:
//     Q8_0: 8 steps, byte = q + 128 (1088 B);  Q4_0: 4 steps, byte i of (step v, row r)
//     = qs[4v + i] of row r: low nibble element 4v + i, high nibble 16 + 4v + i (576 B).
//   Q4_1 / Q5_0 / Q5_1, per block (the same bytes as the rows): 32 x f16 d, (Q4_1, Q5_1)
//     32 x f16 m, the low nibbles as Q4_0's codes, then (Q5_0, Q5_1) the fifth bits as
//     [32 rows][4 bytes]: bit k of byte i is the fifth bit of element 4k + i (640 / 704 /
//     768 B). Codes u = nibble | fifth bit << 4, zp 16 (Q5_0) or 0 with m_b = m.
//   Q4_K, per super-block of 256 (4736 B, 2.8% more than the rows' 4608: the 6-bit
//     scales are stored a byte each): 32 x f16 d, 32 x f16 dmin, then per sub-block
//     of 32: sc [32] u8, mn [32] u8 and the codes as for Q4_0 (576 B).
//   Q6_K, per super-block of 256 (6720 B, the same bytes as the rows): 32 x f16 d, then
//     per sub-block of 32 (832 B): sc [2][32] int8 (one scale per 16 codes), the low
//     nibbles as Q4_0's codes, and the high 2 bits as [2][32 rows][4 bytes] where bits
//     2k..2k+1 of byte i of (half q, row) belong to element 4 (4q + k) + i. The codes
//     are u = q6 (zp 32), and each half of a block gets its own integer sum and scale.
//
// Precision: only the activations are rounded (8 bits per block, as in the decode
// kernels); the weights are used exactly. Against a double sum of w * (dx*q) the result
// differs by the f32 summation of the blocks (about blocks * 2^-24 * sum |w*x|).
//
// Threads: pure functions; gemm_int8_rows is called on disjoint row ranges from the
// pool's threads, each with its own internal scratch (thread_local).
#pragma once
#include <cstddef>
#include <cstdint>

#include "shardlm/core/dtype.h"
#include "shardlm/kernels/matmul.h"

namespace shardlm {

// The CPU has AVX-512 F/BW/VL/DQ and VNNI (cpu_features()) and t is one of the types
// above.
bool gemm_int8_supported(DType t);

// Bytes of the packed activations for n tokens of cols (a multiple of 32).
size_t gemm_int8_packed_x_bytes(int64_t n, int64_t cols);
// Tokens [t0, t1) of x [n, cols] f32 -> their part of xp (gemm_int8_packed_x_bytes(n,
// cols) bytes), for weights of type t (its zero point). Disjoint token ranges may be
// packed from different threads.
void gemm_int8_pack_x(DType t, const float* x, int64_t n, int64_t cols, int64_t t0, int64_t t1, uint8_t* xp);

// y[t * ldy + r] = dot(row r of w, token t) for rows [r0, r1) and every token t < n
// (any n >= 1), for w in either layout. r0 must be a multiple of kGemmInt8TileRows.
// Only call when gemm_int8_supported(w.type) (Rows) or gemm_int8_packable(w.type) (Panel32),
// with xp packed (gemm_int8_pack_x) at the same level.
void gemm_int8_rows(const WeightView& w, const uint8_t* xp, int64_t n, float* y, int64_t ldy, int64_t r0, int64_t r1);

// Weights that can be stored as Panel32 on this CPU (Q8_0, Q4_0, Q4_K, Q6_K with
// AVX2 + FMA + F16C or better; Q4_1, Q5_0, Q5_1 with AVX2 + FMA + F16C but not
// AVX512-VNNI).
bool gemm_int8_packable(DType t);
// Bytes of the Panel32 form of a [rows, cols] weight of type t.
size_t gemm_int8_packed_weight_bytes(DType t, int64_t rows, int64_t cols);
// Rows-layout w (a packable type) -> dst (gemm_int8_packed_weight_bytes) in Panel32.
void gemm_int8_pack_weights(const WeightView& w, uint8_t* dst);

// Rows per panel (row ranges that are multiples of it waste nothing).
constexpr int64_t kGemmInt8TileRows = 32;

}  // namespace shardlm
