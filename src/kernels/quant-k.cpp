// K-quant encoders: round to nearest on a per-sub-block grid found by a small search
// (no importance matrix).
//
// Q4_K / Q5_K (codes 0..nmax, nmax = 15 / 31): every sub-block of 32 values gets a
// step s > 0 and an offset m >= 0, y = s*q - m (the format can only shift down, so
// the grid always reaches min(x, 0)). Candidates: the grid spanning [min(x, 0), max(x)]
// in nmax steps, and grids of that range in nmax + t steps (t = -0.5 .. 2 by 0.25, so
// t > 0 clips the top a little for a finer step), each refitted by least squares on
// its codes (keeping m >= 0). The candidate with the smallest squared error wins.
// The 8 steps and offsets are stored as 6-bit multiples of the super-block's
// d = max(s)/63 and dmin = max(m)/63 (both f16).
//
// Q6_K (codes -32..31): every sub-block of 16 gets a signed step s, y = s*c. The
// value a of largest magnitude maps to c = -32 (the one code without a positive
// twin); candidates map it to -(32 + t) steps (t = -1.5 .. 2.5 by 0.25), refitted as
// s = sum(x*c)/sum(c*c). The 16 steps are stored as int8 multiples of d = max|s|/127.
//
// Last, every code is recomputed from the stored (rounded) scales: each element gets
// the nearest point of its sub-block's grid, clamped to the code range, so
// |x - y| <= step/2 for every element inside its grid's range. Inputs must be finite.
// Contraction into FMA is off (as in quant.cpp) so the bytes do not depend on the build.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "kernels/quant-k.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "shardlm/kernels/quant.h"

namespace shardlm {

namespace {

// Stores v (>= 0) as an f16 at p and returns the stored value.
float store_half(uint8_t* p, float v) {
  const uint16_t h = fp32_to_fp16(std::min(v, 65504.0f));
  std::memcpy(p, &h, 2);
  return fp16_to_fp32(h);
}

// Nearest integer to v (halves up), clamped to [lo, hi] (NaN gives lo). Inline
// arithmetic, not nearbyint(): this is the encoders' inner loop.
inline int code(float v, int lo, int hi) {
  if (!(v > static_cast<float>(lo))) return lo;
  if (v >= static_cast<float>(hi)) return hi;
  return lo + static_cast<int>(v - static_cast<float>(lo) + 0.5f);
}

// ---- Q4_K / Q5_K: step and offset of one sub-block ------------------------------------

struct AsymFit {
  float s = 0.0f;  // step (>= 0)
  float m = 0.0f;  // offset (>= 0): y = s*q - m
};

float asym_error(const float* x, int n, int nmax, AsymFit f) {
  const float inv = f.s > 0.0f ? 1.0f / f.s : 0.0f;
  float e = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int q = code((x[i] + f.m) * inv, 0, nmax);
    const float d = x[i] - (f.s * static_cast<float>(q) - f.m);
    e += d * d;
  }
  return e;
}

AsymFit fit_asym(const float* x, int n, int nmax) {
  float lo = 0.0f, hi = x[0];
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  AsymFit best{0.0f, -lo};
  if (!(hi > lo)) return best;  // every value equals lo (<= 0)
  best.s = (hi - lo) / static_cast<float>(nmax);
  float best_err = asym_error(x, n, nmax, best);
  double sx = 0;
  for (int i = 0; i < n; ++i) sx += x[i];
  for (int k = -2; k <= 8; ++k) {
    const float inv0 = (static_cast<float>(nmax) + 0.25f * static_cast<float>(k)) / (hi - lo);
    int sq = 0, sqq = 0;  // exact: at most 32 * 31^2
    float sxq = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int q = code((x[i] - lo) * inv0, 0, nmax);
      sq += q;
      sqq += q * q;
      sxq += x[i] * static_cast<float>(q);
    }
    const double det = static_cast<double>(n) * sqq - static_cast<double>(sq) * sq;
    if (!(det > 0)) continue;
    double s = (n * static_cast<double>(sxq) - sq * sx) / det;
    double b = (sx - s * sq) / n;  // x ~ s*q + b
    if (b > 0) {                   // the offset must be <= 0: refit the step alone
      b = 0;
      s = sxq / static_cast<double>(sqq);
    }
    if (!(s > 0)) continue;
    const AsymFit f{static_cast<float>(s), static_cast<float>(-b)};
    const float e = asym_error(x, n, nmax, f);
    if (e < best_err) {
      best_err = e;
      best = f;
    }
  }
  return best;
}

// The 6-bit (scale, min) pairs of the 8 sub-blocks into the 12 bytes of Q4_K/Q5_K:
// j < 4: scale in the low 6 bits of s[j], min in those of s[j+4]; j >= 4: low nibbles
// in s[j+4] (scale low, min high), top two bits in bits 6-7 of s[j-4] (scale) and
// s[j] (min).
void pack_scale_min(const uint8_t* sc, const uint8_t* mn, uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(sc[j] & 63);
    s[j + 4] = static_cast<uint8_t>(mn[j] & 63);
  }
  for (int j = 4; j < 8; ++j) {
    s[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
    s[j - 4] = static_cast<uint8_t>(s[j - 4] | ((sc[j] >> 4) << 6));
    s[j] = static_cast<uint8_t>(s[j] | ((mn[j] >> 4) << 6));
  }
}

// Q4_K (bits 4, 144 bytes) and Q5_K (bits 5, 176 bytes).
template <int kBits>
void quantize_k_asym(const float* x, uint8_t* b, int64_t nb) {
  constexpr int nmax = (1 << kBits) - 1;
  constexpr size_t kBytes = kBits == 4 ? 144 : 176;
  for (int64_t i = 0; i < nb; ++i, x += 256, b += kBytes) {
    AsymFit f[8];
    float smax = 0.0f, mmax = 0.0f;
    for (int j = 0; j < 8; ++j) {
      f[j] = fit_asym(x + 32 * j, 32, nmax);
      smax = std::max(smax, f[j].s);
      mmax = std::max(mmax, f[j].m);
    }
    std::memset(b, 0, kBytes);
    const float d = store_half(b, smax / 63.0f);
    const float dmin = store_half(b + 2, mmax / 63.0f);
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) {
      sc[j] = static_cast<uint8_t>(d > 0.0f ? code(f[j].s / d, 0, 63) : 0);
      mn[j] = static_cast<uint8_t>(dmin > 0.0f ? code(f[j].m / dmin, 0, 63) : 0);
    }
    pack_scale_min(sc, mn, b + 4);
    uint8_t q[256];
    for (int j = 0; j < 8; ++j) {
      const float dl = d * static_cast<float>(sc[j]);  // as the decoder computes them
      const float ml = dmin * static_cast<float>(mn[j]);
      const float inv = dl > 0.0f ? 1.0f / dl : 0.0f;
      for (int l = 0; l < 32; ++l) q[32 * j + l] = static_cast<uint8_t>(code((x[32 * j + l] + ml) * inv, 0, nmax));
    }
    // Bytes 32c..32c+31 of the nibbles: sub-block 2c low, 2c+1 high. Q5_K: bit 4 of
    // sub-block j's element l is bit j of qh[l].
    uint8_t* qh = b + 16;
    uint8_t* qs = kBits == 4 ? b + 16 : b + 48;
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        qs[32 * c + l] = static_cast<uint8_t>((q[64 * c + l] & 0xF) | ((q[64 * c + 32 + l] & 0xF) << 4));
    if (kBits == 5)
      for (int l = 0; l < 32; ++l) {
        uint8_t h = 0;
        for (int j = 0; j < 8; ++j) h = static_cast<uint8_t>(h | (((q[32 * j + l] >> 4) & 1) << j));
        qh[l] = h;
      }
  }
}

// ---- Q6_K ------------------------------------------------------------------------------

float sym_error(const float* x, int n, float s) {
  const float inv = s != 0.0f ? 1.0f / s : 0.0f;
  float e = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int c = s != 0.0f ? code(x[i] * inv, -32, 31) : 0;
    const float d = x[i] - s * static_cast<float>(c);
    e += d * d;
  }
  return e;
}

float fit_sym(const float* x, int n) {
  float a = 0.0f, amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      a = x[i];
    }
  }
  if (amax == 0.0f) return 0.0f;
  float best = -a / 32.0f;
  float best_err = sym_error(x, n, best);
  for (int k = -6; k <= 10; ++k) {
    const float inv0 = -(32.0f + 0.25f * static_cast<float>(k)) / a;
    float sxc = 0.0f;
    int scc = 0;
    for (int i = 0; i < n; ++i) {
      const int c = code(x[i] * inv0, -32, 31);
      sxc += x[i] * static_cast<float>(c);
      scc += c * c;
    }
    if (scc <= 0) continue;
    const float s = sxc / static_cast<float>(scc);
    const float e = sym_error(x, n, s);
    if (e < best_err) {
      best_err = e;
      best = s;
    }
  }
  return best;
}

void quantize_q6_k(const float* x, uint8_t* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 256, b += 210) {
    float s[16];
    float amax = 0.0f;
    for (int j = 0; j < 16; ++j) {
      s[j] = fit_sym(x + 16 * j, 16);
      amax = std::max(amax, std::fabs(s[j]));
    }
    std::memset(b, 0, 210);
    const float d = store_half(b + 208, amax / 127.0f);
    int8_t sc[16];
    for (int j = 0; j < 16; ++j) sc[j] = static_cast<int8_t>(d > 0.0f ? code(s[j] / d, -127, 127) : 0);
    std::memcpy(b + 192, sc, 16);
    uint8_t q[256];  // c + 32
    for (int j = 0; j < 16; ++j) {
      const float dl = d * static_cast<float>(sc[j]);
      const float inv = dl != 0.0f ? 1.0f / dl : 0.0f;
      for (int l = 0; l < 16; ++l)
        q[16 * j + l] = static_cast<uint8_t>((dl != 0.0f ? code(x[16 * j + l] * inv, -32, 31) : 0) + 32);
    }
    // Half h (elements 128h..128h+127), L = ql + 64h, H = qh + 32h, l < 32: elements
    // l, l+32, l+64, l+96 have low nibbles in L[l] lo, L[l+32] lo, L[l] hi, L[l+32] hi
    // and their top two bits in H[l] bits 0-1, 2-3, 4-5, 6-7.
    for (int h = 0; h < 2; ++h) {
      uint8_t* L = b + 64 * h;
      uint8_t* H = b + 128 + 32 * h;
      const uint8_t* e = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        L[l] = static_cast<uint8_t>((e[l] & 0xF) | ((e[l + 64] & 0xF) << 4));
        L[l + 32] = static_cast<uint8_t>((e[l + 32] & 0xF) | ((e[l + 96] & 0xF) << 4));
        H[l] = static_cast<uint8_t>((e[l] >> 4) | ((e[l + 32] >> 4) << 2) | ((e[l + 64] >> 4) << 4) |
                                    ((e[l + 96] >> 4) << 6));
      }
    }
  }
}

}  // namespace

void quantize_q4_k_blocks(const float* x, uint8_t* dst, int64_t nb) { quantize_k_asym<4>(x, dst, nb); }
void quantize_q5_k_blocks(const float* x, uint8_t* dst, int64_t nb) { quantize_k_asym<5>(x, dst, nb); }
void quantize_q6_k_blocks(const float* x, uint8_t* dst, int64_t nb) { quantize_q6_k(x, dst, nb); }

}  // namespace shardlm
