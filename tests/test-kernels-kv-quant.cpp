// The one-byte KV formats (kernels/kv-quant.h): every row quantized byte for byte as
// the NumPy model says (tests/reference/kv_quant_vectors.py, run at test time with
// $SHARDLM_PYTHON), every decoder path (scalar, AVX2, AVX-512) bit-identical to it, the
// e4m3fn code table, and the block layout's byte accounting.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "shardlm/core/cpu-features.h"
#include "shardlm/kernels/kv-quant.h"
#include "shardlm/kernels/quant.h"

using namespace shardlm;

namespace {

struct Row {
  DType t;
  std::vector<float> x, deq;
  uint16_t scale = 0;
  std::vector<uint8_t> codes;
};

bool read_rows(const std::string& path, std::vector<Row>* out) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (b.size() < 4 || std::memcmp(b.data(), "SKV1", 4) != 0) return false;
  size_t at = 4;
  auto take = [&](void* dst, size_t n) {
    if (at + n > b.size()) return false;
    std::memcpy(dst, b.data() + at, n);
    at += n;
    return true;
  };
  while (at < b.size()) {
    Row r;
    uint32_t t = 0, n = 0;
    if (!take(&t, 4) || !take(&n, 4) || n > (1u << 20)) return false;
    r.t = static_cast<DType>(t);
    r.x.resize(n), r.deq.resize(n), r.codes.resize(n);
    if (!take(r.x.data(), 4ull * n) || !take(&r.scale, 2) || !take(r.codes.data(), n) || !take(r.deq.data(), 4ull * n))
      return false;
    out->push_back(std::move(r));
  }
  return true;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

}  // namespace

TEST(KvQuant, MatchesNumpyReference) {
  const char* py = std::getenv("SHARDLM_PYTHON");
  const char* src = std::getenv("SHARDLM_SOURCE");
  if (!py || !*py || !src || !*src) GTEST_SKIP() << "SHARDLM_PYTHON / SHARDLM_SOURCE not set (run through ctest)";
  const std::string probe = std::string("\"") + py + "\" -c \"import numpy\" >/dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) GTEST_SKIP() << py << " has no numpy: reference vectors not checked";
  char tmpl[] = "/tmp/shardlm-kvquant-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string cmd = std::string("\"") + py + "\" \"" + src + "/tests/reference/kv_quant_vectors.py\" \"" + dir + "\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<Row> rows;
  ASSERT_TRUE(read_rows(dir + "/kv_quant_vectors.bin", &rows)) << "malformed vectors file";
  std::remove((dir + "/kv_quant_vectors.bin").c_str());
  std::remove(dir.c_str());
  ASSERT_GT(rows.size(), 80u);

  const CpuFeatures f = detect_cpu_features();
  const bool avx2 = f.avx2 && f.fma && f.f16c, avx512 = avx2 && f.avx512f;
  int fp8 = 0, i8 = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const int n = static_cast<int>(r.x.size());
    SCOPED_TRACE(testing::Message() << "row " << i << " " << dtype_name(r.t) << " n " << n);
    (r.t == DType::F8_E4M3 ? fp8 : i8)++;
    std::vector<uint8_t> q(r.x.size());
    const uint16_t s = kv_quantize_row(r.t, r.x.data(), n, q.data());
    ASSERT_EQ(s, r.scale) << "scale";
    for (int d = 0; d < n; ++d) ASSERT_EQ(q[d], r.codes[d]) << "element " << d << " x " << r.x[d];
    std::vector<float> got(r.x.size());
    auto check = [&](const char* path) {
      for (int d = 0; d < n; ++d) ASSERT_TRUE(same_bits(got[d], r.deq[d])) << path << " element " << d << ": " << got[d] << " vs " << r.deq[d];
    };
    kv_dequant_scalar(r.t, r.codes.data(), fp16_to_fp32(r.scale), n, got.data());
    check("scalar");
    if (avx2) {
      kv_dequant_avx2(r.t, r.codes.data(), fp16_to_fp32(r.scale), n, got.data());
      check("avx2");
    }
    if (avx512) {
      kv_dequant_avx512(r.t, r.codes.data(), fp16_to_fp32(r.scale), n, got.data());
      check("avx512");
    }
  }
  EXPECT_GT(fp8, 40);
  EXPECT_GT(i8, 40);
  if (!avx2) std::printf("note: no AVX2 on this CPU, only the scalar decoder was checked\n");
}

TEST(KvQuant, E4m3CodeTable) {
  EXPECT_EQ(fp8_e4m3_to_float(0x7E), 448.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0xFE), -448.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(fp8_e4m3_to_float(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_EQ(fp8_e4m3_to_float(0x38), 1.0f);
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_float(0x7F)));
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_float(0xFF)));
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F) continue;
    EXPECT_EQ(fp8_e4m3_from_float(fp8_e4m3_to_float(static_cast<uint8_t>(c))), c) << c;
  }
  EXPECT_EQ(fp8_e4m3_from_float(1e9f), 0x7E);    // saturates, no infinity
  EXPECT_EQ(fp8_e4m3_from_float(-500.0f), 0xFE);
  EXPECT_EQ(fp8_e4m3_from_float(std::nanf("")), 0x7F);
}

TEST(KvQuant, BlockLayoutHalvesF16) {
  for (int hd : {64, 128})
    for (int bs : {16, 32}) {
      const KvBlockLayout f16 = kv_block_layout(DType::F16, bs, 4, hd);
      EXPECT_EQ(f16.scale_offset, 0u);
      EXPECT_EQ(f16.block_bytes, static_cast<size_t>(bs) * 4 * hd * 2);
      for (DType t : {DType::F8_E4M3, DType::I8}) {
        const KvBlockLayout q = kv_block_layout(t, bs, 4, hd);
        EXPECT_EQ(q.scale_offset, static_cast<size_t>(bs) * 4 * hd);
        EXPECT_EQ(q.block_bytes, static_cast<size_t>(bs) * 4 * (hd + 2));  // one f16 scale per position and head
        EXPECT_LE(static_cast<double>(q.block_bytes) / f16.block_bytes, 0.5 + 1.0 / hd);
      }
    }
  // Odd sizes: the scales start 16-aligned and the block stride is a multiple of 16.
  const KvBlockLayout odd = kv_block_layout(DType::I8, 3, 1, 5);
  EXPECT_EQ(odd.scale_offset, 16u);
  EXPECT_EQ(odd.block_bytes % 16, 0u);
  EXPECT_GE(odd.block_bytes, odd.scale_offset + 6);
  DType t{};
  EXPECT_TRUE(kv_dtype_from_name("fp8_e4m3", &t) && t == DType::F8_E4M3);
  EXPECT_TRUE(kv_dtype_from_name("int8", &t) && t == DType::I8);
  EXPECT_FALSE(kv_dtype_from_name("fp8", &t));
}
