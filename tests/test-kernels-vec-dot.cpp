// Vec-dot kernels: CPU feature detection and masking, activation quantizers (hand-made
// blocks; every ISA writes the scalar bytes), hand-computed dots on every path, and
// every weight type x every available ISA path on random data against
//   (a) the scalar integer reference, up to float summation order:
//       |fast - ref| <= (terms + 64) * 2^-23 * S,
//   (b) the double dot of dequantize_row(weights) and the dequantized activations
//       (independent of the integer formulation): |ref - dot| <= 8 * 2^-24 * S,
//   (c) the double dot with the unquantized activations, within the activation
//       quantization error bound,
// where S = sum_i |xq_i| * (|w_i| + 2 |offset_i|) bounds the magnitude of every product
// the kernels add (offset_i: the weight's value with its code set to 0, e.g. -8d for
// Q4_0, -dmin*m for Q4_K, -128d for Q8_0 whose codes some paths use as w + 128), and
// terms = n/32 for integer paths, n/8 for float ones. fn4 (4 interleaved rows) is
// checked the same way where a path has it. Every type must have its own kernel on
// every vector path (no silent scalar fallback).
// Paths the CPU lacks are skipped.
#include <gtest/gtest.h>

#include <cstdlib>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "shardlm/core/cpu-features.h"
#include "shardlm/kernels/quant.h"
#include "shardlm/kernels/vec-dot.h"

using namespace shardlm;

namespace {

const Isa kIsas[] = {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni};
const DType kTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4_K,
                        DType::Q5_K, DType::Q6_K, DType::F16,  DType::BF16, DType::F32};

bool have(Isa isa) { return isa_available(isa, cpu_features()); }

void put_f16(uint8_t* p, float f) {
  const uint16_t h = fp32_to_fp16(f);
  std::memcpy(p, &h, 2);
}
float get_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}

// Dequantized activations (Q8_1 is not a dequantize_row type: d, s, 32 codes).
std::vector<float> act_values(DType act, const std::vector<uint8_t>& a, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> v(x.size());
  if (act == DType::F32) return x;
  if (act == DType::Q8_1) {
    for (int64_t b = 0; b < n / 32; ++b)
      for (int j = 0; j < 32; ++j)
        v[32 * b + j] = get_f16(&a[36 * b]) * static_cast<float>(static_cast<int8_t>(a[36 * b + 4 + j]));
    return v;
  }
  EXPECT_TRUE(dequantize_row(act, a.data(), v.data(), n));
  return v;
}

// Byte range of the codes inside one block and the byte that makes every code 0 (as
// unsigned: Q8_0's -128, the kernels' w + 128), to get each element's offset.
struct Codes {
  int begin = 0, end = 0;
  uint8_t zero = 0;
};
Codes code_bytes(DType t) {
  switch (t) {
    case DType::Q4_0: return {2, 18, 0};
    case DType::Q4_1: return {4, 20, 0};
    case DType::Q5_0: return {2, 22, 0};
    case DType::Q5_1: return {4, 24, 0};
    case DType::Q8_0: return {2, 34, 0x80};
    case DType::Q4_K: return {16, 144, 0};
    case DType::Q5_K: return {16, 176, 0};
    case DType::Q6_K: return {0, 192, 0};
    default: return {};
  }
}

// Random weight row: random code bytes, sane scales (f16 fields set explicitly).
std::vector<uint8_t> random_row(DType t, int64_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> u(0.002f, 0.05f), sgn(-1.0f, 1.0f);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const auto info = *dtype_info(t);
  std::vector<uint8_t> row(dtype_row_bytes(t, n));
  if (t == DType::F32 || t == DType::F16 || t == DType::BF16) {
    std::vector<float> f(static_cast<size_t>(n));
    for (auto& v : f) v = nd(rng);
    EXPECT_TRUE(quantize_row(t, f.data(), row.data(), n));
    return row;
  }
  for (auto& b : row) b = static_cast<uint8_t>(byte(rng));
  const auto sign = [&] { return sgn(rng) < 0 ? -1.0f : 1.0f; };
  for (size_t off = 0; off < row.size(); off += info.bytes) {
    uint8_t* b = &row[off];
    switch (t) {
      case DType::Q8_0: case DType::Q4_0: case DType::Q5_0: put_f16(b, sign() * u(rng)); break;
      case DType::Q4_1: case DType::Q5_1: put_f16(b, u(rng)); put_f16(b + 2, 0.3f * sgn(rng)); break;
      case DType::Q4_K: case DType::Q5_K: put_f16(b, 0.1f * u(rng)); put_f16(b + 2, 0.1f * u(rng)); break;
      case DType::Q6_K: put_f16(b + 208, 0.1f * u(rng)); break;
      default: break;
    }
  }
  return row;
}

// Activations: normal values, each 32-block scaled by 10^[-2, 2], one zero block.
std::vector<float> random_x(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> e(-2.0f, 2.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t b = 0; b < n; b += 32) {
    const float s = std::pow(10.0f, e(rng));
    for (int64_t i = b; i < std::min(n, b + 32); ++i) x[i] = s * nd(rng);
  }
  if (n >= 96)
    for (int i = 64; i < 96; ++i) x[i] = 0.0f;
  return x;
}

struct Reference {
  double dot_q = 0;      // sum w_i * xq_i (double)
  double dot_x = 0;      // sum w_i * x_i (double)
  double S = 0;          // magnitude bound (see the file comment)
  double qerr = 0;       // sum |w_i| * (activation quantization error bound of element i)
  double serr = 0;       // Q8_1: sum_b |m_b| * |s_b - d_b * sum q| (s is stored as f16)
};

Reference reference(DType t, DType act, const uint8_t* row, int64_t n, const std::vector<float>& x,
                    const std::vector<float>& xq) {
  const auto info = *dtype_info(t);
  std::vector<float> w(static_cast<size_t>(n)), off(static_cast<size_t>(n), 0.0f);
  EXPECT_TRUE(dequantize_row(t, row, w.data(), n));
  const Codes c = code_bytes(t);
  if (c.end > c.begin) {
    std::vector<uint8_t> z(row, row + dtype_row_bytes(t, n));
    for (size_t b = 0; b < z.size(); b += info.bytes) std::fill(z.begin() + b + c.begin, z.begin() + b + c.end, c.zero);
    EXPECT_TRUE(dequantize_row(t, z.data(), off.data(), n));
  }
  Reference r;
  const int64_t ab = act == DType::Q8_K ? 256 : 32;
  for (int64_t i = 0; i < n; ++i) {
    r.dot_q += static_cast<double>(w[i]) * xq[i];
    r.dot_x += static_cast<double>(w[i]) * x[i];
    r.S += std::fabs(static_cast<double>(xq[i])) * (std::fabs(w[i]) + 2.0 * std::fabs(off[i]));
  }
  if (act == DType::Q8_1) {
    for (int64_t b = 0; b < n; b += 32) {
      double sum = 0;
      for (int64_t i = b; i < b + 32; ++i) sum += xq[i];
      r.serr += std::fabs(off[b]) * std::fabs(sum) * std::ldexp(1.0, -11);
    }
  }
  if (act != DType::F32) {
    // |x - xq| <= d/2 + 127 * |d - stored d| (+ float slack); d = amax / 127 per block.
    for (int64_t b = 0; b < n; b += ab) {
      double amax = 0;
      for (int64_t i = b; i < b + ab; ++i) amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
      const double d = amax / 127.0;
      const double ds = act == DType::Q8_K ? d : fp16_to_fp32(fp32_to_fp16(static_cast<float>(d)));
      const double e = (0.5 * d + 127.0 * std::fabs(ds - d)) * (1 + 1e-5) + 1e-30;
      for (int64_t i = b; i < b + ab; ++i) r.qerr += std::fabs(w[i]) * e;
    }
  }
  return r;
}

std::string isa_param_name(const testing::TestParamInfo<Isa>& info) { return isa_name(info.param); }

class VecDotIsa : public testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!have(GetParam()))
      GTEST_SKIP() << "this CPU has no " << isa_name(GetParam()) << " path (" << describe() << ")";
  }
};

}  // namespace

// ---- CPU features -------------------------------------------------------------------------

TEST(CpuFeatures, AgreesWithProcCpuinfo) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::set<std::string> flags;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream ss(line.substr(line.find(':') + 1));
    for (std::string f; ss >> f;) flags.insert(f);
    break;
  }
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags";
  const CpuFeatures f = detect_cpu_features();
  const auto has = [&](const char* name) { return flags.count(name) > 0; };
  EXPECT_EQ(f.avx, has("avx"));
  EXPECT_EQ(f.avx2, has("avx2"));
  EXPECT_EQ(f.fma, has("fma"));
  EXPECT_EQ(f.f16c, has("f16c"));
  EXPECT_EQ(f.ssse3, has("ssse3"));
  EXPECT_EQ(f.avx512f, has("avx512f"));
  EXPECT_EQ(f.avx512bw, has("avx512bw"));
  EXPECT_EQ(f.avx512vl, has("avx512vl"));
  EXPECT_EQ(f.avx512dq, has("avx512dq"));
  EXPECT_EQ(f.avx512_vnni, has("avx512_vnni"));
  EXPECT_EQ(f.avx512_bf16, has("avx512_bf16"));
  EXPECT_EQ(f.avx_vnni, has("avx_vnni"));
  EXPECT_EQ(f.amx_tile, has("amx_tile"));
  EXPECT_EQ(f.amx_int8, has("amx_int8"));
  EXPECT_EQ(f.amx_bf16, has("amx_bf16"));
}

TEST(CpuFeatures, MaskLevels) {
  CpuFeatures all;
  all.sse3 = all.ssse3 = all.sse41 = all.sse42 = all.avx = all.avx2 = all.fma = all.f16c = all.bmi2 = true;
  all.avx512f = all.avx512bw = all.avx512vl = all.avx512dq = all.avx512_vnni = all.avx512_bf16 = true;
  all.avx_vnni = all.amx_tile = all.amx_int8 = all.amx_bf16 = true;

  auto s = mask_features(all, "scalar");
  ASSERT_TRUE(s);
  EXPECT_EQ(best_isa(*s), Isa::Scalar);
  EXPECT_FALSE(s->avx || s->avx2 || s->fma || s->avx512f || s->amx_tile);
  EXPECT_TRUE(s->sse3);

  auto a2 = mask_features(all, "avx2");
  ASSERT_TRUE(a2);
  EXPECT_EQ(best_isa(*a2), Isa::Avx2);
  EXPECT_TRUE(a2->avx2 && a2->fma && a2->f16c);
  EXPECT_FALSE(a2->avx512f || a2->avx512bw || a2->avx512_vnni || a2->avx_vnni || a2->amx_int8);

  EXPECT_STREQ(kernel_level(*a2), "avx2");

  auto av = mask_features(all, "avxvnni");  // AVX2 + VEX VNNI (no AVX-512)
  ASSERT_TRUE(av);
  EXPECT_EQ(best_isa(*av), Isa::Avx2);
  EXPECT_TRUE(av->avx2 && av->avx_vnni);
  EXPECT_FALSE(av->avx512f || av->avx512_vnni);
  EXPECT_STREQ(kernel_level(*av), "avxvnni");

  auto a5 = mask_features(all, "avx512");
  ASSERT_TRUE(a5);
  EXPECT_EQ(best_isa(*a5), Isa::Avx512);
  EXPECT_FALSE(a5->avx512_vnni || a5->avx512_bf16 || a5->amx_tile);

  auto vn = mask_features(all, "avx512vnni");
  ASSERT_TRUE(vn);
  EXPECT_EQ(best_isa(*vn), Isa::Avx512Vnni);
  EXPECT_FALSE(vn->avx512_bf16 || vn->amx_bf16);
  EXPECT_STREQ(kernel_level(*vn), "avx512vnni");
  auto vn2 = mask_features(all, "vnni");  // SHARDLM_ISA's short name
  ASSERT_TRUE(vn2);
  EXPECT_EQ(describe(*vn2), describe(*vn));
  EXPECT_STREQ(kernel_level(*s), "scalar");
  EXPECT_STREQ(kernel_level(*a5), "avx512");

  auto nat = mask_features(all, "native");
  ASSERT_TRUE(nat);
  EXPECT_TRUE(nat->amx_bf16 && nat->avx512_bf16);

  auto bad = mask_features(all, "avx1024");
  EXPECT_FALSE(bad);
  EXPECT_NE(bad.message().find("avx1024"), std::string::npos);

  // Masking never adds what the machine lacks.
  auto none = mask_features(CpuFeatures{}, "avx512vnni");
  ASSERT_TRUE(none);
  EXPECT_EQ(best_isa(*none), Isa::Scalar);
  EXPECT_EQ(describe(CpuFeatures{}), "none");
  EXPECT_EQ(describe(*a2).find("avx512"), std::string::npos);
  EXPECT_NE(describe(*a2).find("avx2"), std::string::npos);
}

// SHARDLM_ISA caps the level (and wins over the older SHARDLM_CPU); a bad name is an
// error naming the variable and changes nothing.
TEST(CpuFeatures, IsaEnvironmentVariable) {
  const CpuFeatures detected = detect_cpu_features();
  set_cpu_features(detected);
  setenv("SHARDLM_ISA", "scalar", 1);
  setenv("SHARDLM_CPU", "native", 1);
  ASSERT_TRUE(apply_cpu_env());
  EXPECT_STREQ(kernel_level(cpu_features()), "scalar");
  set_cpu_features(detected);
  setenv("SHARDLM_ISA", "avx1024", 1);
  Status bad = apply_cpu_env();
  EXPECT_FALSE(bad);
  EXPECT_NE(bad.message().find("SHARDLM_ISA"), std::string::npos);
  EXPECT_EQ(describe(cpu_features()), describe(detected));
  unsetenv("SHARDLM_ISA");
  setenv("SHARDLM_CPU", "scalar", 1);  // the older name still works
  ASSERT_TRUE(apply_cpu_env());
  EXPECT_STREQ(kernel_level(cpu_features()), "scalar");
  unsetenv("SHARDLM_CPU");
  set_cpu_features(detected);
}

TEST(CpuFeatures, SetFeaturesSteersDispatch) {
  const CpuFeatures detected = detect_cpu_features();
  set_cpu_features(mask_features(detected, "scalar").value());
  EXPECT_EQ(vec_dot_kernel(DType::Q8_0).isa, Isa::Scalar);
  EXPECT_FALSE(vec_dot_kernel(DType::Q8_0, Isa::Avx2));  // not offered once masked off
  if (isa_available(Isa::Avx2, detected)) {
    set_cpu_features(mask_features(detected, "avx2").value());
    EXPECT_EQ(vec_dot_kernel(DType::Q4_0).isa, Isa::Avx2);
  }
  CpuFeatures everything = detected;
  everything.avx512f = everything.avx512bw = everything.avx512vl = everything.avx512dq = true;
  set_cpu_features(everything);  // cannot turn on what the CPU lacks
  EXPECT_EQ(cpu_features().avx512f, detected.avx512f);
  set_cpu_features(detected);
  EXPECT_EQ(best_isa(cpu_features()), best_isa(detected));
}

// ---- activation quantizers ------------------------------------------------------------------

TEST_P(VecDotIsa, QuantizeHandMadeBlock) {
  // amax 254 -> d = 2: x / 2 rounds half to even (-1.5 -> -2, 0.5 -> 0, 2.5 -> 2, 3.5 -> 4).
  std::vector<float> x(256, 0.0f);
  const float head[] = {254.0f, -3.0f, 1.0f, 5.0f, 7.0f, -254.0f, 10.2f};
  std::copy(std::begin(head), std::end(head), x.begin());
  const int8_t want[] = {127, -2, 0, 2, 4, -127, 5};

  std::vector<uint8_t> q0(34 * 8), q1(36 * 8), qk(292);
  quantize_act_fn(DType::Q8_0, GetParam())(x.data(), q0.data(), 256);
  quantize_act_fn(DType::Q8_1, GetParam())(x.data(), q1.data(), 256);
  quantize_act_fn(DType::Q8_K, GetParam())(x.data(), qk.data(), 256);
  EXPECT_EQ(get_f16(&q0[0]), 2.0f);
  EXPECT_EQ(get_f16(&q1[0]), 2.0f);
  float dk;
  std::memcpy(&dk, &qk[0], 4);
  EXPECT_EQ(dk, 2.0f);
  for (int j = 0; j < 7; ++j) {
    EXPECT_EQ(static_cast<int8_t>(q0[2 + j]), want[j]) << j;
    EXPECT_EQ(static_cast<int8_t>(q1[4 + j]), want[j]) << j;
    EXPECT_EQ(static_cast<int8_t>(qk[4 + j]), want[j]) << j;
  }
  EXPECT_EQ(get_f16(&q1[2]), 2.0f * (127 - 2 + 0 + 2 + 4 - 127 + 5));  // s = d * sum q
  int16_t bs0;
  std::memcpy(&bs0, &qk[260], 2);
  EXPECT_EQ(bs0, 127 - 2 + 0 + 2 + 4 - 127 + 5);
  // an all-zero block: d = 0, codes 0
  EXPECT_EQ(get_f16(&q0[34]), 0.0f);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(q0[34 + 2 + j], 0);
}

TEST_P(VecDotIsa, QuantizersMatchScalarBytes) {
  std::mt19937 rng(7);
  for (int64_t n : {256, 4096, 11008 - 11008 % 256}) {
    const auto x = random_x(n, rng);
    for (DType act : {DType::Q8_0, DType::Q8_1, DType::Q8_K}) {
      std::vector<uint8_t> want(act_row_bytes(act, n)), got(act_row_bytes(act, n), 0xAB);
      quantize_act_fn(act, Isa::Scalar)(x.data(), want.data(), n);
      quantize_act_fn(act, GetParam())(x.data(), got.data(), n);
      EXPECT_EQ(want, got) << dtype_name(act) << " n=" << n;
      // elementwise error bound of the scalar quantizer itself
      const auto xq = act_values(act, want, x);
      const int64_t ab = act == DType::Q8_K ? 256 : 32;
      for (int64_t b = 0; b < n; b += ab) {
        float amax = 0;
        for (int64_t i = b; i < b + ab; ++i) amax = std::max(amax, std::fabs(x[i]));
        const double d = amax / 127.0;
        const double ds = act == DType::Q8_K ? d : fp16_to_fp32(fp32_to_fp16(static_cast<float>(d)));
        for (int64_t i = b; i < b + ab; ++i)
          ASSERT_LE(std::fabs(x[i] - xq[i]), (0.5 * d + 127 * std::fabs(ds - d)) * (1 + 1e-5)) << i;
      }
    }
  }
}

// ---- hand-computed dots (every path) -----------------------------------------------------

// Activations through the kernel's own quantizer; x = 127 * d quantizes exactly.
std::vector<uint8_t> act_for(const VecDotKernel& k, const std::vector<float>& x) {
  std::vector<uint8_t> a(act_row_bytes(k, static_cast<int64_t>(x.size())));
  k.quantize(x.data(), a.data(), static_cast<int64_t>(x.size()));
  return a;
}

TEST_P(VecDotIsa, HandComputedDots) {
  const Isa isa = GetParam();
  float out = 0;
  {  // Q8_0: w = -128 * 1.0, x = 63.5 (d 0.5, codes 127): 32 * -128 * 127 * 0.5 per block,
     // 3 blocks (a partial group on the 8-block paths)
    std::vector<uint8_t> w(34 * 3);
    for (int b = 0; b < 3; ++b) {
      put_f16(&w[34 * b], 1.0f);
      std::fill(&w[34 * b + 2], &w[34 * b + 34], 0x80);
    }
    const auto k = vec_dot_kernel(DType::Q8_0, isa);
    const auto x = act_for(k, std::vector<float>(96, 63.5f));
    k.fn(96, &out, w.data(), x.data());
    EXPECT_EQ(out, -260096.0f * 3);
  }
  {  // Q4_0: d = 2, low nibbles 15 (+7), high 0 (-8); x = 127 (d 1): 2 * 127 * (16*7 - 16*8)
    std::vector<uint8_t> w(18 * 9);  // 9 blocks: one full group of 8 and one more
    for (int b = 0; b < 9; ++b) {
      put_f16(&w[18 * b], 2.0f);
      std::fill(&w[18 * b + 2], &w[18 * b + 18], 0x0F);
    }
    const auto k = vec_dot_kernel(DType::Q4_0, isa);
    const auto x = act_for(k, std::vector<float>(32 * 9, 127.0f));
    k.fn(32, &out, w.data(), x.data());
    EXPECT_EQ(out, -4064.0f);
    k.fn(32 * 9, &out, w.data(), x.data());
    EXPECT_EQ(out, -4064.0f * 9);
  }
  {  // 9 blocks (a partial group on the 8-block paths); x = 127 for elements 0-15 of each
     // block, -63 for 16-31 (d 1, exact codes; Q8_1 s = 16 * 127 - 16 * 63 = 1024).
     // Weights d = 2 (Q4_1 / Q5_1: m = -8), every qs byte 0x0F (low nibbles 15, high 0),
     // Q5 qh = 0xFF (5th bit set for elements 0-7).
    std::vector<float> xs(32 * 9);
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = i % 32 < 16 ? 127.0f : -63.0f;
    struct Case {
      DType t;
      int bytes, qh, qs;  // block size, qh offset (-1: none), qs offset
      float want;         // one block
    };
    const Case cases[] = {
        // values 15 (e 0-7), -1 (8-15), -16 (16-31): 2 * (127 * (8 * 15 - 8) + 63 * 16 * 16)
        {DType::Q5_0, 22, 2, 6, 60704.0f},
        // values 2 * 15 - 8 = 22 (e 0-15), -8: 127 * 16 * 22 + 63 * 16 * 8
        {DType::Q4_1, 20, -1, 4, 52768.0f},
        // codes 31, 15, 0 -> values 54 (e 0-7), 22 (8-15), -8: 127 * 8 * (54 + 22) + 63 * 16 * 8
        {DType::Q5_1, 24, 4, 8, 85280.0f},
    };
    for (const Case& c : cases) {
      std::vector<uint8_t> w(static_cast<size_t>(c.bytes) * 9);
      for (int b = 0; b < 9; ++b) {
        uint8_t* blk = &w[static_cast<size_t>(c.bytes) * b];
        put_f16(blk, 2.0f);
        if (c.t != DType::Q5_0) put_f16(blk + 2, -8.0f);
        if (c.qh >= 0) blk[c.qh] = 0xFF;  // other qh bytes 0
        std::fill(blk + c.qs, blk + c.qs + 16, 0x0F);
      }
      const auto k = vec_dot_kernel(c.t, isa);
      const auto x = act_for(k, xs);
      k.fn(32, &out, w.data(), x.data());
      EXPECT_EQ(out, c.want) << dtype_name(c.t);
      k.fn(32 * 9, &out, w.data(), x.data());
      EXPECT_EQ(out, 9 * c.want) << dtype_name(c.t);
    }
  }
  const std::vector<float> x127(256, 127.0f);  // Q8_K: d = 1, codes 127
  {  // Q4_K: d = dmin = 1, all scales and mins 1, codes 15: 256 * 127 * (15 - 1)
    std::vector<uint8_t> w(144);
    put_f16(&w[0], 1.0f);
    put_f16(&w[2], 1.0f);
    std::fill(&w[4], &w[12], 1);     // sc0..3 = 1, mn0..3 = 1
    std::fill(&w[12], &w[16], 0x11);  // sc4..7 = 1 (low nibble), mn4..7 = 1 (high nibble)
    std::fill(&w[16], &w[144], 0xFF);
    const auto k = vec_dot_kernel(DType::Q4_K, isa);
    k.fn(256, &out, w.data(), act_for(k, x127).data());
    EXPECT_EQ(out, 256.0f * 127 * 14);
  }
  {  // Q5_K: d = dmin = 1, scales sc_j = j + 1, mins 1, low codes 15, 5th bit set for
     // sub-blocks 0, 1, 3 (qh = 0x0B): 127 * 32 * (sum_j sc_j * code_j - 8)
     //   = 4064 * (31 * (1 + 2 + 4) + 15 * (3 + 5 + 6 + 7 + 8) - 8) = 4064 * 644
    std::vector<uint8_t> w(176);
    put_f16(&w[0], 1.0f);
    put_f16(&w[2], 1.0f);
    for (int j = 0; j < 4; ++j) {
      w[4 + j] = static_cast<uint8_t>(j + 1);         // sc0..3
      w[8 + j] = 1;                                   // mn0..3
      w[12 + j] = static_cast<uint8_t>(0x10 | (j + 5));  // sc4..7 (low nibble), mn4..7 = 1 (high)
    }
    std::fill(&w[16], &w[48], 0x0B);
    std::fill(&w[48], &w[176], 0xFF);
    const auto k = vec_dot_kernel(DType::Q5_K, isa);
    k.fn(256, &out, w.data(), act_for(k, x127).data());
    EXPECT_EQ(out, 4064.0f * 644);
    if (k.fn4) {  // 4 rows: the same block with the 5th bits of sub-blocks 0, 1, 3 cleared
      std::vector<uint8_t> w4;
      for (int r = 0; r < 4; ++r) w4.insert(w4.end(), w.begin(), w.end());
      std::fill(&w4[176 * 3 + 16], &w4[176 * 3 + 48], 0x00);
      float o4[4];
      k.fn4(256, o4, w4.data(), 176, act_for(k, x127).data());
      for (int r = 0; r < 3; ++r) EXPECT_EQ(o4[r], 4064.0f * 644) << r;
      EXPECT_EQ(o4[3], 4064.0f * (15 * 36 - 8));  // all codes 15, sum sc = 36
    }
  }
  {  // Q4_K / Q5_K, min terms and sub-block order: d = dmin = 1, scales 1, mins mn_j = j + 1,
     // every code byte 0x01 (sub-blocks 0, 2, 4, 6 code 1, the others 0; Q5_K: no 5th
     // bits); x = v_j in sub-block j (d 1, exact codes). Sum = 32 * (sum_{j even} v_j
     // - sum_j (j + 1) v_j) = 32 * (124 - (-392)) = 16512.
    const float v[8] = {127, -50, 3, 10, -7, 60, 1, -100};
    std::vector<float> xs(256);
    for (int i = 0; i < 256; ++i) xs[i] = v[i / 32];
    for (DType t : {DType::Q4_K, DType::Q5_K}) {
      const int bytes = t == DType::Q4_K ? 144 : 176;
      std::vector<uint8_t> w(bytes, 0);
      put_f16(&w[0], 1.0f);
      put_f16(&w[2], 1.0f);
      for (int j = 0; j < 4; ++j) {
        w[4 + j] = 1;                                            // sc0..3
        w[8 + j] = static_cast<uint8_t>(j + 1);                  // mn0..3
        w[12 + j] = static_cast<uint8_t>(((j + 5) << 4) | 1);    // sc4..7 = 1, mn4..7 = j + 5
      }
      std::fill(w.begin() + bytes - 128, w.end(), 0x01);
      const auto k = vec_dot_kernel(t, isa);
      k.fn(256, &out, w.data(), act_for(k, xs).data());
      EXPECT_EQ(out, 16512.0f) << dtype_name(t);
    }
  }
  {  // Q6_K: d = 1, scales 1 except group 3 = -2, codes 63 (+31): 127 * 31 * (15 * 16 - 2 * 16)
    std::vector<uint8_t> w(210);
    std::fill(&w[0], &w[192], 0xFF);
    std::fill(&w[192], &w[208], 1);
    w[192 + 3] = static_cast<uint8_t>(-2);
    put_f16(&w[208], 1.0f);
    const auto k = vec_dot_kernel(DType::Q6_K, isa);
    k.fn(256, &out, w.data(), act_for(k, x127).data());
    EXPECT_EQ(out, 127.0f * 31 * (15 * 16 - 2 * 16));
  }
  {  // F16 / BF16 / F32 with a tail: (1, 2, 3) . (1, -1, 2) = 5 (n = 3 and n = 19)
    const std::vector<float> wf = {1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4};
    const std::vector<float> x = {1, -1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.5f};
    for (DType t : {DType::F16, DType::BF16, DType::F32}) {
      std::vector<uint8_t> w(dtype_row_bytes(t, 19));
      quantize_row(t, wf.data(), w.data(), 19);
      const auto k = vec_dot_kernel(t, isa);
      k.fn(3, &out, w.data(), x.data());
      EXPECT_EQ(out, 5.0f) << dtype_name(t);
      k.fn(19, &out, w.data(), x.data());
      EXPECT_EQ(out, 7.0f) << dtype_name(t);
    }
  }
}

// ---- every type on random data ---------------------------------------------------------------

TEST_P(VecDotIsa, RandomRowsAgainstReferences) {
  const Isa isa = GetParam();
  std::mt19937 rng(1234);
  constexpr int64_t kRows = 7;  // one group of 4 (fn4) and 3 single rows
  for (DType t : kTypes) {
    const VecDotKernel k = vec_dot_kernel(t, isa);
    const VecDotKernel ref = vec_dot_kernel(t, Isa::Scalar);
    ASSERT_TRUE(k) << dtype_name(t);
    ASSERT_TRUE(ref);
    EXPECT_EQ(k.act, ref.act);
    // Every type has a kernel of its own on every path; float weights (no integer
    // products) use the AVX-512 one on both AVX-512 levels.
    const bool fp = t == DType::F16 || t == DType::BF16 || t == DType::F32;
    EXPECT_EQ(k.isa, fp && isa == Isa::Avx512Vnni ? Isa::Avx512 : isa) << dtype_name(t);
    std::vector<int64_t> sizes;  // 32-blocks: partial groups of 8 (1, 3, 1 + 8, 7 + 8 * 15 blocks) too
    if (k.block == 256) sizes = {256, 768, 4096, 11008};
    else if (k.block == 32) sizes = {32, 96, 256, 288, 4064, 4096, 11008};
    else sizes = {1, 7, 16, 17, 33, 100, 256, 4096, 11008};
    for (int64_t n : sizes) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " n=" + std::to_string(n) + " path=" + isa_name(k.isa));
      const size_t rb = dtype_row_bytes(t, n);
      std::vector<uint8_t> w;
      for (int r = 0; r < kRows; ++r) {
        const auto row = random_row(t, n, rng);
        w.insert(w.end(), row.begin(), row.end());
      }
      const auto x = random_x(n, rng);
      // reference activations in the standard layout; the kernel's own through k.quantize
      std::vector<uint8_t> xa, xk;
      const void* xp = x.data();
      const void* xkp = x.data();
      if (k.act != DType::F32) {
        xa.resize(act_row_bytes(k.act, n));
        quantize_act_fn(k.act, Isa::Scalar)(x.data(), xa.data(), n);
        xk.resize(act_row_bytes(k, n));
        k.quantize(x.data(), xk.data(), n);
        if (k.act_group_bytes == act_row_bytes(k.act, k.act_group)) {
          EXPECT_EQ(xk, xa);  // a standard layout: the same bytes
        }
        xp = xa.data();
        xkp = xk.data();
      }
      const auto xq = act_values(k.act, xa, x);
      std::vector<float> got(kRows, NAN), got4(4, NAN);
      vec_dot_rows(k, n, kRows, w.data(), rb, xkp, got.data());
      if (k.fn4) k.fn4(n, got4.data(), w.data(), rb, xkp);
      const double terms = static_cast<double>(k.act == DType::F32 ? n / 8 : n / 32);
      for (int r = 0; r < kRows; ++r) {
        const uint8_t* row = w.data() + r * rb;
        float want = NAN, one = NAN;
        ref.fn(n, &want, row, xp);
        k.fn(n, &one, row, xkp);
        const Reference R = reference(t, k.act, row, n, x, xq);
        const double tol_order = (terms + 64) * std::ldexp(1.0, -23) * R.S + 1e-30;
        EXPECT_NEAR(got[r], want, tol_order) << "row " << r << " (rows path)";
        EXPECT_NEAR(one, want, tol_order) << "row " << r << " (single-row fn)";
        if (k.fn4 && r < 4) {
          EXPECT_NEAR(got4[r], want, tol_order) << "row " << r << " (fn4)";
        }
        const double tol_deq = 8 * std::ldexp(1.0, -24) * R.S + R.serr + 1e-30;
        EXPECT_NEAR(want, R.dot_q, tol_deq) << "row " << r << " vs dequantized dot";
        EXPECT_NEAR(want, R.dot_x, R.qerr + tol_deq) << "row " << r << " vs f32 dot";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, VecDotIsa, testing::ValuesIn(kIsas), isa_param_name);
