// Kernels against plain references: matmul (F32 and every dequantizable type we
// can quantize), RoPE layouts, paged attention against a dense causal softmax.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>

#include "shardlm/core/cpu-features.h"
#include "shardlm/kernels/attention.h"
#include "shardlm/kernels/gemm-bf16.h"
#include "shardlm/kernels/gemm-int8.h"
#include "shardlm/kernels/mac-rate.h"
#include "shardlm/kernels/kv-quant.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/kernels/ops.h"
#include "shardlm/kernels/quant.h"
#include "randn.h"

using namespace shardlm;

// The speed paths (GEMMs at their step sizes) are what these tests check: batch
// invariance off (test-kernels-batch-invariance checks the default mode).
struct SpeedPaths {
  SpeedPaths() { set_matmul_batch_invariant(false); }
  ~SpeedPaths() { set_matmul_batch_invariant(true); }
};

// At every kernel level of this machine (SHARDLM_ISA's names), so the lower paths are
// tested on a higher machine too.
TEST(Matmul, MatchesReferenceForEveryTypeAndShape) {
  kernels_init();
  SpeedPaths speed;
  ThreadPool pool(3);
  const CpuFeatures native = detect_cpu_features();
  for (const char* level : {"scalar", "avx2", "avxvnni", "avx512", "vnni"})
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0}) {
    set_cpu_features(mask_features(native, level).value());
    if (!can_quantize(t)) continue;
    for (int64_t rows : {1, 3, 33, 130})
      for (int64_t cols : {32, 64, 96, 576})  // 576: two column chunks of the BF16 GEMM
        for (int64_t n : {1, 2, 5, 20, 40, 70}) {  // 20: BLAS for F16/BF16; 40, 70: a GEMM where the CPU has one
          auto wf = randn(rows * cols, 1);
          std::vector<uint8_t> q(dtype_row_bytes(t, cols) * rows);
          for (int64_t r = 0; r < rows; ++r)
            ASSERT_TRUE(quantize_row(t, wf.data() + r * cols, q.data() + r * dtype_row_bytes(t, cols), cols));
          WeightView w{t, rows, cols, dtype_row_bytes(t, cols), q.data()};
          auto x = randn(n * cols, 2);
          std::vector<float> y(n * rows), yr(n * rows);
          matmul(w, x.data(), n, y.data(), pool);
          matmul_ref(w, x.data(), n, yr.data());
          // Integer kernels quantize the activations to 8 bits per 32-block: each x moves
          // by at most amax(block)/254, so |Δy| <= Σ_blocks amax/254 · Σ|w| over the block.
          const bool big = n >= kMatmulGemmMinTokens;
          const bool int8 = n >= kMatmulInt8MinTokens && gemm_int8_supported(t);
          const bool gemm = big && !int8 && t != DType::F32 && gemm_bf16_supported();
          const bool q8_act = int8 || (!gemm && (t == DType::Q8_0 || t == DType::Q4_0));
          std::vector<float> wrow(cols);
          for (int64_t r = 0; r < rows; ++r) {
            dequantize_row(t, q.data() + r * dtype_row_bytes(t, cols), wrow.data(), cols);
            for (int64_t i = 0; i < n; ++i) {
              double bound = 0;
              if (q8_act)
                for (int64_t b = 0; b < cols; b += 32) {
                  double amax = 0, wabs = 0;
                  for (int64_t c = b; c < b + 32; ++c) {
                    amax = std::max(amax, static_cast<double>(std::fabs(x[i * cols + c])));
                    wabs += std::fabs(wrow[c]);
                  }
                  bound += amax / 254.0 * wabs * 1.01;
                }
              // BF16 GEMM: w and x each rounded to 8 significant bits (relative 2^-9).
              if (gemm)
                for (int64_t c = 0; c < cols; ++c) bound += std::ldexp(std::fabs(wrow[c] * x[i * cols + c]), -8) * 1.01;
              const size_t k = i * rows + r;
              ASSERT_NEAR(y[k], yr[k], bound + 1e-4 * (1 + std::fabs(yr[k])))
                  << level << " " << dtype_name(t) << " " << rows << "x" << cols << " n=" << n;
            }
          }
        }
  }
  set_cpu_features(native);
}

// The BF16 GEMM (steps of kMatmulGemmMinTokens or more) for every weight type it
// takes (those without the integer GEMM), over several 512-column chunks and token
// counts with partial groups.
TEST(Matmul, Bf16GemmEveryTypeWithinRoundingBound) {
  SpeedPaths speed;
  if (!gemm_bf16_supported()) GTEST_SKIP() << "this CPU has no AVX512-BF16 (cpu_features: " << describe() << ")";
  ThreadPool pool(2);
  for (DType t : {DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                  DType::Q4_K, DType::Q5_K, DType::Q6_K})
    if (!gemm_int8_supported(t))
    for (int64_t rows : {13, 25})
      for (int64_t cols : {256, 1280})
        for (int64_t n : {kMatmulGemmMinTokens, int64_t{47}}) {
          auto wf = randn(rows * cols, 3);
          const size_t rb = dtype_row_bytes(t, cols);
          std::vector<uint8_t> q(rb * rows);
          for (int64_t r = 0; r < rows; ++r) ASSERT_TRUE(quantize_row(t, wf.data() + r * cols, q.data() + r * rb, cols));
          WeightView w{t, rows, cols, rb, q.data()};
          auto x = randn(n * cols, 4);
          std::vector<float> y(n * rows), yr(n * rows), wrow(cols);
          matmul(w, x.data(), n, y.data(), pool);
          matmul_ref(w, x.data(), n, yr.data());
          for (int64_t r = 0; r < rows; ++r) {
            dequantize_row(t, q.data() + r * rb, wrow.data(), cols);
            for (int64_t i = 0; i < n; ++i) {
              double mag = 0;
              for (int64_t c = 0; c < cols; ++c) mag += std::fabs(wrow[c] * x[i * cols + c]);
              ASSERT_NEAR(y[i * rows + r], yr[i * rows + r], std::ldexp(mag, -8) * 1.01 + 1e-5)
                  << dtype_name(t) << " " << rows << "x" << cols << " n=" << n << " row " << r << " token " << i;
            }
          }
        }
}

// The integer GEMM for every weight type it takes, and Q8_0 / Q4_0 / Q4_K / Q6_K (and below
// AVX512-VNNI Q4_1 / Q5_0 / Q5_1) stored as 32-row panels (every step size, decode included), at every kernel level of this machine that
// has one (vnni: AVX-512; avx512 and avx2: the AVX2 kernel with vpmaddubsw; avxvnni: the
// AVX2 kernel with VEX vpdpbusd): rows that fill and do not fill a 32-row panel, token
// counts with partial tiles, columns not a multiple of 256 where the format allows. The
// activations are quantized here the same way (dx = amax/127, q = round-to-even(x *
// (127/amax))), so the result must equal the double sum of w * dx * q up to f32
// rounding of the block sums; and every level must give the same bits (the same integer
// sums, the same f32 operations in the same order).
TEST(Matmul, Int8GemmEqualsQuantizedActivationProductAtEveryLevel) {
  SpeedPaths speed;
  const CpuFeatures native = detect_cpu_features();
  ThreadPool pool(2);
  std::vector<std::string> levels;
  for (const char* level : {"vnni", "avx512", "avxvnni", "avx2"})
    if (std::string(kernel_level(mask_features(native, level).value())) == (std::string(level) == "vnni" ? "avx512vnni" : level))
      levels.push_back(level);
  if (levels.empty()) GTEST_SKIP() << "this CPU has no AVX2 (cpu_features: " << describe(native) << ")";
  // Outputs of the first level, keyed by case, for the bit-equality check.
  std::map<std::string, std::vector<float>> first;
  int cases = 0;
  for (const std::string& level : levels) {
    set_cpu_features(mask_features(native, level).value());
    const bool vnni = level == "vnni";
    for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
      // Q4_1 / Q5_0 / Q5_1 panels: the AVX2 tile only (AVX512-VNNI keeps them as rows).
      const bool packable = t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q4_K || t == DType::Q6_K ||
                            (!vnni && (t == DType::Q4_1 || t == DType::Q5_0 || t == DType::Q5_1));
      ASSERT_EQ(gemm_int8_supported(t), vnni && t != DType::Q6_K) << dtype_name(t) << " " << level;
      ASSERT_EQ(gemm_int8_packable(t), packable) << dtype_name(t) << " " << level;
      const bool k_quant = t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K;
      for (WeightLayout layout : {WeightLayout::Rows, WeightLayout::Panel32}) {
        const bool panel = layout == WeightLayout::Panel32;
        if (panel ? !gemm_int8_packable(t) : !gemm_int8_supported(t)) continue;
        const std::vector<int64_t> steps =
            panel ? std::vector<int64_t>{1, 2, 3, 6, 7, 47} : std::vector<int64_t>{kMatmulInt8MinTokens, 32, 47};
        const std::vector<int64_t> col_set = k_quant ? std::vector<int64_t>{256, 1280} : std::vector<int64_t>{96, 256, 1312};
        for (int64_t rows : {13, 45, 64})
          for (int64_t cols : col_set)
            for (int64_t n : steps) {
              auto wf = randn(rows * cols, 5);
              for (int64_t i = 0; i < rows * cols; i += 7) wf[i] += 0.5f;  // offsets matter for Q4_1/K
              const size_t rb = dtype_row_bytes(t, cols);
              std::vector<uint8_t> q(rb * rows);
              for (int64_t r = 0; r < rows; ++r) ASSERT_TRUE(quantize_row(t, wf.data() + r * cols, q.data() + r * rb, cols));
              WeightView w{t, rows, cols, rb, q.data()};
              std::vector<uint8_t> packed;
              if (panel) {
                packed.resize(gemm_int8_packed_weight_bytes(t, rows, cols));
                // Rows padded to 32; Q4_K stores its 6-bit scales a byte each (4736 B per 32 x 256).
                const size_t panels = static_cast<size_t>((rows + 31) / 32);
                ASSERT_EQ(packed.size(), t == DType::Q4_K ? panels * (cols / 256) * 4736 : panels * 32 * rb);
                gemm_int8_pack_weights(w, packed.data());
                w.data = packed.data();
                w.layout = layout;
              }
              auto x = randn(n * cols, 6);
              x[3] = 0;
              for (int64_t c = 32; c < 64; ++c) x[c] = 0;  // an all-zero block
              if (n > 1) x[cols + 40] = 60.0f;              // an outlier: codes near +-127 elsewhere in its block
              std::vector<float> xq(x.size());
              for (int64_t b = 0; b < n * cols; b += 32) {
                float amax = 0;
                for (int64_t c = b; c < b + 32; ++c) amax = std::max(amax, std::fabs(x[c]));
                const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
                for (int64_t c = b; c < b + 32; ++c) xq[c] = d * std::nearbyint(x[c] * id);
              }
              std::vector<float> y(n * rows, -7.0f), wrow(cols);
              matmul(w, x.data(), n, y.data(), pool);
              ++cases;
              const std::string key = std::string(dtype_name(t)) + (panel ? " panel32 " : " rows ") + std::to_string(rows) + "x" +
                                      std::to_string(cols) + " n=" + std::to_string(n);
              if (auto it = first.find(key); it != first.end())
                ASSERT_EQ(y, it->second) << key << ": " << level << " differs from " << levels.front();
              else
                first[key] = y;
              for (int64_t r = 0; r < rows; ++r) {
                dequantize_row(t, q.data() + r * rb, wrow.data(), cols);
                for (int64_t i = 0; i < n; ++i) {
                  double ref = 0, mag = 0;
                  for (int64_t c = 0; c < cols; ++c) {
                    ref += static_cast<double>(wrow[c]) * xq[i * cols + c];
                    mag += std::fabs(static_cast<double>(wrow[c]) * xq[i * cols + c]);
                  }
                  ASSERT_NEAR(y[i * rows + r], ref, mag * 1e-5 + 1e-6)
                      << level << " " << key << " row " << r << " token " << i;
                }
              }
            }
      }
    }
  }
  set_cpu_features(native);
  EXPECT_GT(cases, 0);
}

// A head stored in "halves" order, permuted the way GGUF's converter permutes Q/K
// rows into "adjacent" order, gives the same rotated values (permuted the same way).
TEST(Rope, AdjacentLayoutOfPermutedHeadEqualsHalvesLayout) {
  const int D = 16, heads = 3, n = 4;
  auto x = randn(n * heads * D, 3);
  std::vector<int32_t> pos = {0, 1, 7, 300};
  // HF row h*D + s*D/2 + j  ->  GGUF row h*D + 2j + s
  std::vector<float> xp(x.size());
  for (int t = 0; t < n * heads; ++t)
    for (int s = 0; s < 2; ++s)
      for (int j = 0; j < D / 2; ++j) xp[t * D + 2 * j + s] = x[t * D + s * D / 2 + j];
  rope(x.data(), n, heads, pos.data(), RopeParams::make(16, 16, RopeLayout::Halves, 10000, {}, 1));
  const RopeParams adjacent = RopeParams::make(16, 16, RopeLayout::Adjacent, 10000, {}, 1);
  rope(xp.data(), n, heads, pos.data(), adjacent);
  for (int t = 0; t < n * heads; ++t)
    for (int s = 0; s < 2; ++s)
      for (int j = 0; j < D / 2; ++j) ASSERT_FLOAT_EQ(xp[t * D + 2 * j + s], x[t * D + s * D / 2 + j]);
  // Position 0 is the identity, position 7 is not.
  auto y = randn(D, 4);
  auto y0 = y;
  int32_t p0 = 0;
  rope(y.data(), 1, 1, &p0, adjacent);
  for (int i = 0; i < D; ++i) EXPECT_FLOAT_EQ(y[i], y0[i]);
}

// Every cache dtype, on the scalar and the vector path, with head sizes that are and
// are not a multiple of the vector width, and query heads interleaved over KV heads.
TEST(Attention, PagedMatchesDenseCausalSoftmax) {
  ThreadPool pool(2);
  const CpuFeatures native = cpu_features();
  for (const char* level : {"scalar", "avx2", "native"})
    for (DType dt : {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3, DType::I8})
      for (auto [bs, hd] : {std::pair{4, 8}, std::pair{4, 20}, std::pair{16, 64}, std::pair{16, 128}}) {
        set_cpu_features(mask_features(native, level).value());
        const int n_kv = 2, n_q = 4, n_blocks = 16;
        const int q_to_kv[4] = {0, 1, 1, 0};
        std::vector<uint8_t> K(n_blocks * kv_block_layout(dt, bs, n_kv, hd).block_bytes), V(K.size());
        KvLayerView kv{K.data(), V.data(), n_blocks, bs, n_kv, hd, dt};
        // Two sequences with scattered block tables: seq A over 3 blocks (the last
        // partial), seq B over 2.
        std::vector<int32_t> btA = {9, 2, 14}, btB = {5, 0};
        const int nA = 2 * bs + 3, nB = bs + 2, n = nA + nB;
        std::vector<int32_t> pos;
        std::vector<const int32_t*> tables;
        for (int i = 0; i < nA; ++i) pos.push_back(i), tables.push_back(btA.data());
        for (int i = 0; i < nB; ++i) pos.push_back(i), tables.push_back(btB.data());
        auto q = randn(n * n_q * hd, 5), k = randn(n * n_kv * hd, 6), v = randn(n * n_kv * hd, 7);
        AttnTokens at{n, pos.data(), tables.data()};
        kv_write(kv, at, k.data(), v.data());
        // The reference sees the cache's rounding (quantized: each head row with its scale).
        auto rounded = [dt](float x) {
          return dt == DType::F16 ? fp16_to_fp32(fp32_to_fp16(x)) : dt == DType::BF16 ? bf16_to_fp32(fp32_to_bf16(x)) : x;
        };
        std::vector<uint8_t> codes(hd);
        for (auto* x : {&k, &v})
          for (int r = 0; r < n * n_kv; ++r) {
            float* row = x->data() + r * hd;
            if (kv_dtype_quantized(dt)) {
              const uint16_t sc = kv_quantize_row(dt, row, hd, codes.data());
              kv_dequant_scalar(dt, codes.data(), fp16_to_fp32(sc), hd, row);
            } else {
              for (int c = 0; c < hd; ++c) row[c] = rounded(row[c]);
            }
          }
        std::vector<float> out(n * n_q * hd);
        attention(kv, at, q.data(), n_q, q_to_kv, out.data(), pool);
        for (int i = 0; i < n; ++i) {
          const int start = i < nA ? 0 : nA;  // first token of this token's sequence
          for (int hq = 0; hq < n_q; ++hq) {
            std::vector<double> s;
            for (int j = start; j <= i; ++j) {
              double d = 0;
              for (int c = 0; c < hd; ++c) d += q[(i * n_q + hq) * hd + c] * k[(j * n_kv + q_to_kv[hq]) * hd + c];
              s.push_back(d / std::sqrt(hd));
            }
            double m = *std::max_element(s.begin(), s.end()), z = 0;
            for (auto& e : s) z += std::exp(e - m);
            for (int c = 0; c < hd; ++c) {
              double o = 0;
              for (int j = start; j <= i; ++j) o += std::exp(s[j - start] - m) / z * v[(j * n_kv + q_to_kv[hq]) * hd + c];
              ASSERT_NEAR(out[(i * n_q + hq) * hd + c], o, 1e-5)
                  << level << " " << dtype_name(dt) << " bs " << bs << " hd " << hd << " token " << i << " head " << hq;
            }
          }
        }
      }
  set_cpu_features(native);
}

TEST(Ops, RmsNormAndSilu) {
  std::vector<float> x = {1, -2, 3, -4}, w = {1, 1, 2, 0.5f}, o(4);
  rmsnorm(x.data(), w.data(), 1, 4, 0.0f, o.data());
  const float r = std::sqrt((1 + 4 + 9 + 16) / 4.0f);
  EXPECT_NEAR(o[0], 1 / r, 1e-6);
  EXPECT_NEAR(o[2], 6 / r, 1e-6);
  EXPECT_NEAR(o[3], -2 / r, 1e-6);
  std::vector<float> g = {0, 1, -1}, u = {2, 2, 2};
  silu_mul(g.data(), u.data(), 3);
  EXPECT_FLOAT_EQ(g[0], 0);
  EXPECT_NEAR(g[1], 2 * 1 / (1 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(g[2], 2 * -1 / (1 + std::exp(1.0)), 1e-6);
}

// The roofline's MAC-rate loops run at every level (no figure is checked: speed is a
// benchmark's business): scalar has no int8 loop (0), every vector level has one.
TEST(MacRate, EveryLevelMeasuresSomething) {
  const CpuFeatures native = detect_cpu_features();
  for (const char* level : {"scalar", "avx2", "avxvnni", "avx512", "vnni"}) {
    set_cpu_features(mask_features(native, level).value());
    const bool avx2 = std::string(kernel_level(cpu_features())) != "scalar";
    EXPECT_GT(f32_mac_rate(1), 0.0) << level;
    if (avx2)
      EXPECT_GT(int8_mac_rate(2), 0.0) << level;
    else
      EXPECT_EQ(int8_mac_rate(1), 0.0) << level;
  }
  set_cpu_features(native);
}
