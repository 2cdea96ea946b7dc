// Scalar (de)quantization: fp16/bf16 edge cases, hand-made blocks, round-trip bounds,
// and every format checked element-wise against an independent NumPy implementation
// (tests/reference/quant_vectors.py, run at test time with $SHARDLM_PYTHON).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "shardlm/kernels/quant.h"

using namespace shardlm;

namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

// ---- fp16 -----------------------------------------------------------------------

TEST(Fp16, KnownValues) {
  EXPECT_EQ(fp16_to_fp32(0x3C00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0xC000), -2.0f);
  EXPECT_EQ(fp16_to_fp32(0x7BFF), 65504.0f);
  EXPECT_EQ(fp16_to_fp32(0x0400), std::ldexp(1.0f, -14));  // min normal
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));  // min subnormal
  EXPECT_EQ(fp16_to_fp32(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(bits(fp16_to_fp32(0x8000)), 0x80000000u);     // -0
  EXPECT_EQ(fp16_to_fp32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(fp16_to_fp32(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7E00)));
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7C01)));
}

TEST(Fp16, RoundTripAllPatterns) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    const uint16_t back = fp32_to_fp16(f);
    if (std::isnan(f)) {
      EXPECT_EQ(back & 0x7C00, 0x7C00);
      EXPECT_NE(back & 0x03FF, 0) << h;
      EXPECT_EQ(back & 0x8000, h & 0x8000);
    } else {
      ASSERT_EQ(back, h) << "pattern " << h;
    }
  }
}

TEST(Fp16, RoundingTiesAndEdges) {
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0).
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  // 1 + 3*2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9 (even): rounds up.
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  // just above a tie rounds up
  EXPECT_EQ(fp32_to_fp16(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)), 0x3C01);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65519.99f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);  // tie with odd 65504: to infinity
  EXPECT_EQ(fp32_to_fp16(1e10f), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(-1e10f), 0xFC00);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::infinity()), 0x7C00);
  // subnormals: 2^-25 is a tie between 0 and the smallest subnormal -> 0
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(fp32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(3 * std::ldexp(1.0f, -25)), 0x0002);  // 1.5 ulp: tie to even
  EXPECT_EQ(fp32_to_fp16(5 * std::ldexp(1.0f, -25)), 0x0002);  // 2.5 ulp: tie to even
  EXPECT_EQ(fp32_to_fp16(-std::ldexp(1.0f, -24)), 0x8001);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)), 0x0400);  // rounds to min normal
  EXPECT_EQ(fp32_to_fp16(1e-30f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-1e-30f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(from_bits(1)), 0x0000);  // float subnormal
  const uint16_t qn = fp32_to_fp16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(qn & 0x7C00, 0x7C00);
  EXPECT_NE(qn & 0x0200, 0);  // quiet
  const uint16_t sn = fp32_to_fp16(from_bits(0x7F800001u));  // signalling, payload in low bits
  EXPECT_EQ(sn & 0x7C00, 0x7C00);
  EXPECT_NE(sn & 0x03FF, 0);  // still NaN, not infinity
}

// ---- bf16 -----------------------------------------------------------------------

TEST(Bf16, KnownValuesAndRounding) {
  EXPECT_EQ(bf16_to_fp32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_fp32(0xC040), -3.0f);
  EXPECT_EQ(bf16_to_fp32(0x0001), from_bits(0x00010000u));  // subnormal
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F808000u)), 0x3F80);  // tie, even stays
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F818000u)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F808001u)), 0x3F81);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x7F7FFFFFu)), 0x7F80);  // FLT_MAX rounds to inf
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(fp32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x00008000u)), 0x0000);  // subnormal tie to even
  const uint16_t n = fp32_to_bf16(from_bits(0x7F800001u));  // sNaN whose payload would vanish
  EXPECT_TRUE(std::isnan(bf16_to_fp32(n)));
  EXPECT_NE(n & 0x0040, 0);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(h));
    if (!std::isnan(f)) {
      ASSERT_EQ(fp32_to_bf16(f), h);
    }
  }
}

// ---- hand-made blocks -------------------------------------------------------------

TEST(Dequant, HandMadeQ8_0AndQ4_0) {
  uint8_t q8[34];
  const uint16_t d = fp32_to_fp16(0.5f);
  std::memcpy(q8, &d, 2);
  for (int j = 0; j < 32; ++j) q8[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
  float y[32];
  ASSERT_TRUE(dequantize_row(DType::Q8_0, q8, y, 32));
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.5f * static_cast<float>(j - 16));

  uint8_t q4[18];
  std::memcpy(q4, &d, 2);
  for (int j = 0; j < 16; ++j) q4[2 + j] = static_cast<uint8_t>((j & 0xF) | ((15 - j) << 4));
  ASSERT_TRUE(dequantize_row(DType::Q4_0, q4, y, 32));
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * static_cast<float>(j - 8));
    EXPECT_EQ(y[j + 16], 0.5f * static_cast<float>(15 - j - 8));
  }
}

TEST(Dequant, HandMadeQ5_0) {
  uint8_t b[22] = {};
  const uint16_t d = fp32_to_fp16(1.0f);
  std::memcpy(b, &d, 2);
  const uint32_t qh = 0x80000001u;  // 5th bit set for element 0 and element 31
  std::memcpy(b + 2, &qh, 4);
  for (int j = 0; j < 16; ++j) b[6 + j] = 0xFF;  // all low nibbles 15
  float y[32];
  ASSERT_TRUE(dequantize_row(DType::Q5_0, b, y, 32));
  EXPECT_EQ(y[0], 15.0f);    // 31 - 16
  EXPECT_EQ(y[1], -1.0f);    // 15 - 16
  EXPECT_EQ(y[31], 15.0f);
  EXPECT_EQ(y[16], -1.0f);
}

TEST(Dequant, RejectsBadInput) {
  float y[64];
  uint8_t buf[64] = {};
  EXPECT_FALSE(dequantize_row(DType::Q8_0, buf, y, 31));
  EXPECT_FALSE(dequantize_row(DType::Q4_K, buf, y, 32));
  EXPECT_FALSE(dequantize_row(DType::Q8_1, buf, y, 32));
  EXPECT_FALSE(dequantize_row(DType::I32, buf, y, 4));
  EXPECT_FALSE(can_dequantize(DType::U8));
  EXPECT_TRUE(can_dequantize(DType::Q6_K));
  EXPECT_FALSE(quantize_row(DType::Q3_K, y, buf, 256));  // no encoder for Q2_K / Q3_K
  EXPECT_FALSE(quantize_row(DType::Q4_K, y, buf, 32));
  EXPECT_FALSE(quantize_row(DType::Q8_0, y, buf, 33));
  EXPECT_TRUE(can_quantize(DType::Q4_0));
  EXPECT_FALSE(can_quantize(DType::Q2_K));
}

// ---- round trips ------------------------------------------------------------------

TEST(Quant, RoundTripBounds) {
  std::mt19937 gen(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t n = 32 * 64;
  std::vector<float> x(n), y(n);
  for (auto& v : x) v = nd(gen);
  x[100] = 40.0f;  // an outlier block
  std::vector<uint8_t> buf(dtype_row_bytes(DType::Q8_0, n) + 16);
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    ASSERT_TRUE(quantize_row(t, x.data(), buf.data(), n));
    ASSERT_TRUE(dequantize_row(t, buf.data(), y.data(), n));
    double err2 = 0, norm2 = 0;
    for (int64_t b = 0; b < n / 32; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
      // half a step, plus the f16 rounding of the scale applied to the largest code
      const float step = t == DType::Q8_0 ? amax / 127.0f : amax / 8.0f;
      const float bound = (t == DType::Q8_0 ? 0.5f : 1.0f) * step + amax * 1e-3f + 1e-6f;
      for (int j = 0; j < 32; ++j) {
        const int64_t i = b * 32 + j;
        ASSERT_LE(std::fabs(x[i] - y[i]), bound) << dtype_name(t) << " element " << i;
        err2 += (x[i] - y[i]) * (x[i] - y[i]);
        norm2 += x[i] * x[i];
      }
    }
    const double rel = std::sqrt(err2 / norm2);
    EXPECT_LT(rel, t == DType::Q8_0 ? 0.01 : 0.12) << dtype_name(t);
  }
  // Q4_0: the largest-magnitude value is reproduced (up to the f16 scale).
  std::vector<float> blk(32, 0.1f);
  blk[3] = -2.0f;
  uint8_t q4[18];
  ASSERT_TRUE(quantize_row(DType::Q4_0, blk.data(), q4, 32));
  float back[32];
  ASSERT_TRUE(dequantize_row(DType::Q4_0, q4, back, 32));
  EXPECT_EQ(back[3], -2.0f);
  // all zeros stay zero
  std::vector<float> zeros(32, 0.0f);
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    ASSERT_TRUE(quantize_row(t, zeros.data(), buf.data(), 32));
    ASSERT_TRUE(dequantize_row(t, buf.data(), back, 32));
    for (float v : back) EXPECT_EQ(v, 0.0f);
  }
  // plain types
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    ASSERT_TRUE(quantize_row(t, x.data(), buf.data(), 64));
    ASSERT_TRUE(dequantize_row(t, buf.data(), y.data(), 64));
    const float rel = t == DType::F32 ? 0.0f : (t == DType::F16 ? 1.0f / 2048 : 1.0f / 256);
    for (int i = 0; i < 64; ++i) EXPECT_LE(std::fabs(x[i] - y[i]), std::fabs(x[i]) * rel) << dtype_name(t);
  }
}

// ---- against the NumPy reference ---------------------------------------------------

namespace {

struct Record {
  uint32_t kind = 0, dtype = 0;
  uint64_t n = 0;
  std::vector<uint8_t> in, out;
  std::string name;
};

bool read_records(const std::string& path, std::vector<Record>* recs) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::vector<uint8_t> all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t p = 0;
  auto need = [&](size_t k) { return p + k <= all.size(); };
  auto u32 = [&]() { uint32_t v; std::memcpy(&v, all.data() + p, 4); p += 4; return v; };
  auto u64 = [&]() { uint64_t v; std::memcpy(&v, all.data() + p, 8); p += 8; return v; };
  if (!need(4) || std::memcmp(all.data(), "SQV1", 4) != 0) return false;
  p = 4;
  while (p < all.size()) {
    Record r;
    if (!need(16)) return false;
    r.kind = u32();
    r.dtype = u32();
    r.n = u64();
    for (auto* v : {&r.in, &r.out}) {
      if (!need(8)) return false;
      const uint64_t len = u64();
      if (!need(len)) return false;
      v->assign(all.begin() + static_cast<ptrdiff_t>(p), all.begin() + static_cast<ptrdiff_t>(p + len));
      p += len;
    }
    if (!need(4)) return false;
    const uint32_t nl = u32();
    if (!need(nl)) return false;
    r.name.assign(reinterpret_cast<const char*>(all.data() + p), nl);
    p += nl;
    recs->push_back(std::move(r));
  }
  return true;
}

}  // namespace

TEST(Quant, MatchesNumpyReference) {
  const char* py = std::getenv("SHARDLM_PYTHON");
  const char* src = std::getenv("SHARDLM_SOURCE");
  if (!py || !*py || !src || !*src) GTEST_SKIP() << "SHARDLM_PYTHON / SHARDLM_SOURCE not set (run through ctest)";
  const std::string probe = std::string("\"") + py + "\" -c \"import numpy\" >/dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) GTEST_SKIP() << py << " has no numpy: reference vectors not checked";

  char tmpl[] = "/tmp/shardlm-quant-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string cmd = std::string("\"") + py + "\" \"" + src + "/tests/reference/quant_vectors.py\" \"" + dir + "\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<Record> recs;
  ASSERT_TRUE(read_records(dir + "/quant_vectors.bin", &recs)) << "malformed vectors file";
  std::remove((dir + "/quant_vectors.bin").c_str());
  std::remove(dir.c_str());

  std::vector<std::string> dequant_seen;
  int quant_records = 0;
  for (const auto& r : recs) {
    const auto t = static_cast<DType>(r.dtype);
    const int64_t n = static_cast<int64_t>(r.n);
    SCOPED_TRACE(r.name);
    if (r.kind == 0) {
      ASSERT_EQ(r.in.size(), dtype_row_bytes(t, n));
      ASSERT_EQ(r.out.size(), r.n * 4);
      std::vector<float> got(r.n), want(r.n);
      std::memcpy(want.data(), r.out.data(), r.out.size());
      ASSERT_TRUE(dequantize_row(t, r.in.data(), got.data(), n));
      int bad = 0;
      for (int64_t i = 0; i < n; ++i) {
        const bool same = got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i]));
        if (!same && bad++ < 5)
          ADD_FAILURE() << "element " << i << ": got " << got[i] << " want " << want[i];
      }
      EXPECT_EQ(bad, 0);
      dequant_seen.push_back(dtype_name(t));
    } else {
      ASSERT_EQ(r.in.size(), r.n * 4);
      ASSERT_EQ(r.out.size(), dtype_row_bytes(t, n));
      std::vector<uint8_t> got(r.out.size());
      ASSERT_TRUE(quantize_row(t, reinterpret_cast<const float*>(r.in.data()), got.data(), n));
      const size_t elem = t == DType::F16 || t == DType::BF16 ? 2 : (t == DType::F32 ? 4 : dtype_row_bytes(t, 32));
      int bad = 0;
      for (size_t i = 0; i < got.size(); i += elem) {
        if (std::memcmp(got.data() + i, r.out.data() + i, elem) != 0 && bad++ < 5) {
          float xin;
          std::memcpy(&xin, r.in.data() + (i / elem) * 4, 4);
          ADD_FAILURE() << "unit " << i / elem << " differs (first input " << xin << ")";
        }
      }
      EXPECT_EQ(bad, 0);
      ++quant_records;
    }
  }
  for (const char* want : {"F32", "F16", "BF16", "F64", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K",
                           "Q4_K", "Q5_K", "Q6_K", "Q8_K"}) {
    EXPECT_NE(std::find(dequant_seen.begin(), dequant_seen.end(), want), dequant_seen.end()) << want;
  }
  EXPECT_EQ(quant_records, 5);
}
