// The quantizers added for `shardlm quantize`: Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K.
// Hand-made blocks whose values lie exactly on a grid (the bytes are known, and the
// round trip is exact), round-trip error bounds, and an independent NumPy check of
// every output (tests/reference/kquant_vectors.py: reference rounding byte for byte
// for the 32-element types, nearest-code and scale-range properties for the K-quants).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "shardlm/kernels/quant.h"

using namespace shardlm;

namespace {

uint16_t u16_at(const std::vector<uint8_t>& b, size_t off) {
  uint16_t v;
  std::memcpy(&v, b.data() + off, 2);
  return v;
}

std::vector<uint8_t> quantize(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> b(dtype_row_bytes(t, static_cast<int64_t>(x.size())));
  EXPECT_TRUE(quantize_row(t, x.data(), b.data(), static_cast<int64_t>(x.size()))) << dtype_name(t);
  return b;
}

std::vector<float> dequantize(DType t, const std::vector<uint8_t>& b, size_t n) {
  std::vector<float> y(n);
  EXPECT_TRUE(dequantize_row(t, b.data(), y.data(), static_cast<int64_t>(n))) << dtype_name(t);
  return y;
}

std::vector<float> gauss(size_t n, uint32_t seed, float sd = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

}  // namespace

// ---- 32-element types: values on the grid ---------------------------------------------

TEST(QuantLegacy, Q4_1OnGrid) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = -2.0f + 0.25f * static_cast<float>(j % 16);  // min -2, step 0.25
  auto b = quantize(DType::Q4_1, x);
  EXPECT_EQ(u16_at(b, 0), 0x3400);  // d = 0.25
  EXPECT_EQ(u16_at(b, 2), 0xC000);  // m = -2
  EXPECT_EQ(b[4 + 1], 0x11);        // elements 1 and 17: code 1 each
  EXPECT_EQ(b[4 + 15], 0xFF);
  EXPECT_EQ(dequantize(DType::Q4_1, b, 32), x);
}

TEST(QuantLegacy, Q5_0AndQ5_1OnGrid) {
  std::vector<float> x0(32), x1(32);
  for (int j = 0; j < 32; ++j) {
    x0[j] = 0.5f * static_cast<float>(j - 16);   // -8 (largest magnitude, code 0) .. 7.5
    x1[j] = -1.0f + 0.125f * static_cast<float>(j);
  }
  auto b0 = quantize(DType::Q5_0, x0);
  EXPECT_EQ(u16_at(b0, 0), 0x3800);  // d = -8 / -16 = 0.5
  uint32_t qh;
  std::memcpy(&qh, b0.data() + 2, 4);
  EXPECT_EQ(qh, 0xFFFF0000u);        // codes 16..31 for elements 16..31
  EXPECT_EQ(b0[6 + 3], 0x33);        // elements 3 and 19: low nibbles 3 and 19 & 15
  EXPECT_EQ(dequantize(DType::Q5_0, b0, 32), x0);

  auto b1 = quantize(DType::Q5_1, x1);
  EXPECT_EQ(u16_at(b1, 0), 0x3000);  // d = 3.875 / 31 = 0.125
  EXPECT_EQ(u16_at(b1, 2), 0xBC00);  // m = -1
  std::memcpy(&qh, b1.data() + 4, 4);
  EXPECT_EQ(qh, 0xFFFF0000u);
  EXPECT_EQ(b1[8 + 2], 0x22);
  EXPECT_EQ(dequantize(DType::Q5_1, b1, 32), x1);
}

// ---- K-quants: values on a grid give known bytes and an exact round trip ---------------

// Q4_K/Q5_K: d = 2^-6, dmin = 2^-7; sub-block j has scale sc[j] and min mn[j] and its
// codes (5l + j) mod 2^bits cover the whole code range, so the encoder's first
// candidate (the min/max grid) is exact.
static const uint8_t kSc[8] = {63, 40, 17, 1, 50, 33, 8, 63};
static const uint8_t kMn[8] = {63, 0, 5, 20, 9, 31, 32, 47};
// The 12 packed bytes, worked out by hand from the layout (quant.cpp, scale_min_k4):
//   s[0..3] = sc[0..3] | (sc[4..7] >> 4) << 6   = 63|3<<6, 40|2<<6, 17|0, 1|3<<6
//   s[4..7] = mn[0..3] | (mn[4..7] >> 4) << 6   = 63|0, 0|1<<6, 5|2<<6, 20|2<<6
//   s[8..11] = (sc[j] & 15) | (mn[j] & 15) << 4 = 2|9<<4, 1|15<<4, 8|0, 15|15<<4
static const uint8_t kPacked[12] = {0xFF, 0xA8, 0x11, 0xC1, 0x3F, 0x40, 0x85, 0x94, 0x92, 0xF1, 0x08, 0xFF};

static std::vector<float> k_grid_block(int bits) {
  const int levels = 1 << bits;
  std::vector<float> x(256);
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 32; ++l) {
      const int q = (5 * l + j) % levels;
      x[32 * j + l] = 0.015625f * static_cast<float>(kSc[j] * q) - 0.0078125f * static_cast<float>(kMn[j]);
    }
  return x;
}

TEST(QuantK, Q4_KOnGridKnownBytes) {
  const auto x = k_grid_block(4);
  auto b = quantize(DType::Q4_K, x);
  ASSERT_EQ(b.size(), 144u);
  EXPECT_EQ(u16_at(b, 0), 0x2400);  // d = 2^-6
  EXPECT_EQ(u16_at(b, 2), 0x2000);  // dmin = 2^-7
  for (int i = 0; i < 12; ++i) EXPECT_EQ(b[4 + i], kPacked[i]) << "scales byte " << i;
  // qs[32c + l]: sub-block 2c low nibble, 2c+1 high; codes (5l + j) % 16
  EXPECT_EQ(b[16 + 0], 0x10);        // c 0, l 0: codes 0 and 1
  EXPECT_EQ(b[16 + 32], 0x32);       // c 1, l 0: codes 2 and 3
  EXPECT_EQ(b[16 + 3], 0x0F);        // c 0, l 3: codes 15 and 0
  EXPECT_EQ(dequantize(DType::Q4_K, b, 256), x);
}

TEST(QuantK, Q5_KOnGridKnownBytes) {
  const auto x = k_grid_block(5);
  auto b = quantize(DType::Q5_K, x);
  ASSERT_EQ(b.size(), 176u);
  EXPECT_EQ(u16_at(b, 0), 0x2400);
  EXPECT_EQ(u16_at(b, 2), 0x2000);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(b[4 + i], kPacked[i]) << "scales byte " << i;
  // qh[l] bit j = bit 4 of sub-block j's code at l: l = 0 codes j (< 16): 0;
  // l = 3 codes 15 + j: 15 for j = 0, 16..22 otherwise.
  EXPECT_EQ(b[16 + 0], 0x00);
  EXPECT_EQ(b[16 + 3], 0xFE);
  EXPECT_EQ(b[48 + 0], 0x10);        // low nibbles of codes 0 and 1
  EXPECT_EQ(dequantize(DType::Q5_K, b, 256), x);
}

TEST(QuantK, Q6_KOnGridKnownBytes) {
  // d = 2^-8, int8 scales with max |sc| = 127; sub-block 15 all zero (scale 0). Codes
  // c(j, l) = -32 at l = 0 (the largest magnitude), else (7l + 3j) % 64 - 32.
  const int8_t sc[16] = {127, -100, 64, 1, -127, 33, 90, -5, 12, 127, -64, 77, 3, -2, 100, 0};
  std::vector<float> x(256);
  for (int j = 0; j < 16; ++j)
    for (int l = 0; l < 16; ++l) {
      const int c = l == 0 ? -32 : (7 * l + 3 * j) % 64 - 32;
      x[16 * j + l] = 0.00390625f * static_cast<float>(sc[j]) * static_cast<float>(c);
    }
  auto b = quantize(DType::Q6_K, x);
  ASSERT_EQ(b.size(), 210u);
  EXPECT_EQ(u16_at(b, 208), 0x1C00);  // d = 2^-8
  for (int j = 0; j < 16; ++j) EXPECT_EQ(static_cast<int8_t>(b[192 + j]), sc[j]) << "scale " << j;
  // l = 1 of sub-blocks 0, 2, 4, 6 (elements 1, 33, 65, 97): q = c + 32 = 7, 13, 19, 25
  EXPECT_EQ(b[1], 0x37);        // ql[1]: lo4(7) | lo4(19) << 4
  EXPECT_EQ(b[33], 0x9D);       // ql[33]: lo4(13) | lo4(25) << 4
  EXPECT_EQ(b[128 + 1], 0x50);  // qh[1]: top bits 0, 0, 1, 1 at shifts 0, 2, 4, 6
  EXPECT_EQ(dequantize(DType::Q6_K, b, 256), x);
}

// ---- round trips -----------------------------------------------------------------------

TEST(QuantK, RoundTripErrorBounds) {
  struct Case {
    DType t;
    double bound;  // relative RMS bound documented in quant.h
  };
  const Case cases[] = {{DType::Q4_1, 0.12}, {DType::Q5_0, 0.06}, {DType::Q5_1, 0.06},
                        {DType::Q4_K, 0.09}, {DType::Q5_K, 0.045}, {DType::Q6_K, 0.025}};
  const auto x = gauss(256 * 64, 11);
  for (const auto& c : cases) {
    auto y = dequantize(c.t, quantize(c.t, x), x.size());
    double e2 = 0, n2 = 0, emax = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      e2 += (x[i] - y[i]) * (x[i] - y[i]);
      n2 += x[i] * x[i];
      emax = std::max(emax, static_cast<double>(std::fabs(x[i] - y[i])));
    }
    const double rel = std::sqrt(e2 / n2);
    EXPECT_LT(rel, c.bound) << dtype_name(c.t);
    EXPECT_LT(emax, 0.5) << dtype_name(c.t);  // no element far off (N(0,1) data, |x| < 5)
    std::printf("%-5s rel rms %.4f max abs %.4f\n", dtype_name(c.t), rel, emax);
  }
  // The K-quants improve on their 32-element counterparts at the same bits.
  auto rms = [&](DType t) {
    auto y = dequantize(t, quantize(t, x), x.size());
    double e2 = 0;
    for (size_t i = 0; i < x.size(); ++i) e2 += (x[i] - y[i]) * (x[i] - y[i]);
    return e2;
  };
  EXPECT_LT(rms(DType::Q4_K), rms(DType::Q4_1));
  EXPECT_LT(rms(DType::Q5_K), rms(DType::Q5_1));
}

TEST(QuantK, SpecialBlocks) {
  for (DType t : {DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    SCOPED_TRACE(dtype_name(t));
    // zeros stay zeros
    std::vector<float> z(256, 0.0f);
    for (float v : dequantize(t, quantize(t, z), 256)) EXPECT_EQ(v, 0.0f);
    // a constant row: exact for the offset types and Q6_K's sign trick, close for Q5_0
    std::vector<float> c(256, -0.75f);
    for (float v : dequantize(t, quantize(t, c), 256)) EXPECT_NEAR(v, -0.75f, 1e-3f);
    // one outlier per block is reproduced within its own block's step
    auto x = gauss(256, 5, 0.02f);
    x[77] = 3.0f;
    const auto y = dequantize(t, quantize(t, x), 256);
    EXPECT_NEAR(y[77], 3.0f, 0.2f);
    // scaling the input by 2 scales the output by 2 (powers of two are exact in f16)
    std::vector<float> x2(x);
    for (auto& v : x2) v *= 2.0f;
    const auto y2 = dequantize(t, quantize(t, x2), 256);
    for (int i = 0; i < 256; ++i) EXPECT_EQ(y2[i], 2.0f * y[i]) << i;
  }
}

TEST(QuantK, RejectsPartialBlocks) {
  std::vector<float> x(512, 1.0f);
  std::vector<uint8_t> b(1024);
  EXPECT_FALSE(quantize_row(DType::Q4_K, x.data(), b.data(), 128));
  EXPECT_FALSE(quantize_row(DType::Q6_K, x.data(), b.data(), 300));
  EXPECT_FALSE(quantize_row(DType::Q5_1, x.data(), b.data(), 48));
  EXPECT_TRUE(can_quantize(DType::Q5_K));
  EXPECT_FALSE(can_quantize(DType::Q8_K));
}

// ---- against the NumPy checker -----------------------------------------------------------

TEST(QuantK, NumpyChecksEveryOutput) {
  const char* py = std::getenv("SHARDLM_PYTHON");
  const char* src = std::getenv("SHARDLM_SOURCE");
  if (!py || !*py || !src || !*src) GTEST_SKIP() << "SHARDLM_PYTHON / SHARDLM_SOURCE not set (run through ctest)";
  const std::string probe = std::string("\"") + py + "\" -c \"import numpy\" >/dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) GTEST_SKIP() << py << " has no numpy: outputs not checked";

  // Rows of several kinds; each is quantized into every type.
  struct Row {
    std::string name;
    std::vector<float> x;
  };
  std::vector<Row> rows;
  rows.push_back({"gauss", gauss(256 * 48, 21)});
  rows.push_back({"gauss small", gauss(256 * 16, 22, 0.02f)});
  {
    std::mt19937 g(23);
    std::uniform_real_distribution<float> u(-3.0f, 3.0f);
    std::vector<float> v(256 * 8);
    for (auto& e : v) e = u(g);
    rows.push_back({"uniform", v});
  }
  {
    std::vector<float> v = gauss(256 * 8, 24, 0.05f);
    v[5] = 4.0f;       // outliers of both signs
    v[300] = -6.0f;
    for (int i = 512; i < 768; ++i) v[i] = 0.0f;                                  // a zero block
    for (int i = 768; i < 1024; ++i) v[i] = 0.25f;                                // constant > 0
    for (int i = 1024; i < 1280; ++i) v[i] = -0.5f - 0.001f * (i % 7);            // all negative
    for (int i = 1280; i < 1536; ++i) v[i] = static_cast<float>((i * 37) % 16 - 8) * 0.125f;  // grid ties
    for (int i = 1536; i < 1792; ++i) v[i] = 1e-6f * static_cast<float>(i % 5);  // f16-subnormal scales
    rows.push_back({"special", v});
  }
  char tmpl[] = "/tmp/shardlm-kquant-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, file = dir + "/kq.bin";
  {
    std::ofstream f(file, std::ios::binary);
    f.write("SKQ1", 4);
    for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K,
                    DType::Q6_K}) {
      for (const auto& r : rows) {
        const uint32_t id = static_cast<uint32_t>(t);
        const uint64_t n = r.x.size();
        const auto b = quantize(t, r.x);
        const uint64_t nb = b.size();
        const uint32_t nl = static_cast<uint32_t>(r.name.size());
        f.write(reinterpret_cast<const char*>(&id), 4);
        f.write(reinterpret_cast<const char*>(&n), 8);
        f.write(reinterpret_cast<const char*>(r.x.data()), static_cast<std::streamsize>(n * 4));
        f.write(reinterpret_cast<const char*>(&nb), 8);
        f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(nb));
        f.write(reinterpret_cast<const char*>(&nl), 4);
        f.write(r.name.data(), nl);
      }
    }
  }
  const std::string cmd =
      std::string("\"") + py + "\" \"" + src + "/tests/reference/kquant_vectors.py\" check \"" + file + "\" 2>&1";
  std::string out;
  int rc = -1;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    rc = pclose(p);
  }
  std::remove(file.c_str());
  std::remove(dir.c_str());
  std::printf("%s", out.c_str());
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("32 records, 0 failures"), std::string::npos) << out;
}
