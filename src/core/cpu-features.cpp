#include "shardlm/core/cpu-features.h"

#include "shardlm/core/log.h"

#include <cstdint>
#include <cstdlib>
#include <utility>

namespace shardlm {

namespace {

#if defined(__x86_64__)
struct Regs {
  uint32_t a = 0, b = 0, c = 0, d = 0;
};

// The cpuid and xgetbv instructions themselves (no compiler builtin that could be
// resolved for the build machine).
Regs cpuid(uint32_t leaf, uint32_t subleaf) {
  Regs r;
  asm volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(subleaf));
  return r;
}

uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0u));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

constexpr bool bit(uint32_t v, int i) { return ((v >> i) & 1u) != 0; }

CpuFeatures detect() {
  CpuFeatures f;
  const uint32_t max_leaf = cpuid(0, 0).a;
  if (max_leaf < 1) return f;
  const Regs l1 = cpuid(1, 0);
  f.sse3 = bit(l1.c, 0);
  f.ssse3 = bit(l1.c, 9);
  f.sse41 = bit(l1.c, 19);
  f.sse42 = bit(l1.c, 20);

  // XCR0: bit 1 SSE, bit 2 YMM upper halves; bits 5-7 opmask, ZMM_Hi256, Hi16_ZMM;
  // bits 17-18 TILECFG, TILEDATA. Readable only when the OS enabled XSAVE (OSXSAVE).
  uint64_t xcr0 = 0;
  if (bit(l1.c, 27)) xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;
  const bool os_zmm = os_ymm && (xcr0 & 0xE0) == 0xE0;
  const bool os_tile = (xcr0 & 0x60000) == 0x60000;

  f.avx = os_ymm && bit(l1.c, 28);
  f.fma = f.avx && bit(l1.c, 12);
  f.f16c = f.avx && bit(l1.c, 29);
  if (max_leaf < 7) return f;

  const Regs l7 = cpuid(7, 0);
  f.bmi2 = bit(l7.b, 8);
  f.avx2 = f.avx && bit(l7.b, 5);
  f.avx512f = os_zmm && bit(l7.b, 16);
  f.avx512dq = f.avx512f && bit(l7.b, 17);
  f.avx512bw = f.avx512f && bit(l7.b, 30);
  f.avx512vl = f.avx512f && bit(l7.b, 31);
  f.avx512_vnni = f.avx512f && bit(l7.c, 11);
  f.amx_bf16 = os_tile && bit(l7.d, 22);
  f.amx_tile = os_tile && bit(l7.d, 24);
  f.amx_int8 = os_tile && bit(l7.d, 25);
  if (l7.a >= 1) {  // sub-leaf 1 exists
    const Regs l71 = cpuid(7, 1);
    f.avx_vnni = f.avx && bit(l71.a, 4);
    f.avx512_bf16 = f.avx512f && bit(l71.a, 5);
  }
  return f;
}
#else
CpuFeatures detect() { return {}; }
#endif

CpuFeatures& active() {
  static CpuFeatures f = detect_cpu_features();
  return f;
}

CpuFeatures intersect(const CpuFeatures& a, const CpuFeatures& b) {
  CpuFeatures r;
  r.sse3 = a.sse3 && b.sse3;
  r.ssse3 = a.ssse3 && b.ssse3;
  r.sse41 = a.sse41 && b.sse41;
  r.sse42 = a.sse42 && b.sse42;
  r.avx = a.avx && b.avx;
  r.avx2 = a.avx2 && b.avx2;
  r.fma = a.fma && b.fma;
  r.f16c = a.f16c && b.f16c;
  r.bmi2 = a.bmi2 && b.bmi2;
  r.avx512f = a.avx512f && b.avx512f;
  r.avx512bw = a.avx512bw && b.avx512bw;
  r.avx512vl = a.avx512vl && b.avx512vl;
  r.avx512dq = a.avx512dq && b.avx512dq;
  r.avx512_vnni = a.avx512_vnni && b.avx512_vnni;
  r.avx512_bf16 = a.avx512_bf16 && b.avx512_bf16;
  r.avx_vnni = a.avx_vnni && b.avx_vnni;
  r.amx_tile = a.amx_tile && b.amx_tile;
  r.amx_int8 = a.amx_int8 && b.amx_int8;
  r.amx_bf16 = a.amx_bf16 && b.amx_bf16;
  return r;
}

}  // namespace

CpuFeatures detect_cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

CpuFeatures cpu_features() { return active(); }

void set_cpu_features(const CpuFeatures& f) { active() = intersect(f, detect_cpu_features()); }

Result<CpuFeatures> mask_features(CpuFeatures f, std::string_view level) {
  if (level.empty() || level == "native") return f;
  const bool scalar = level == "scalar";
  const bool avx2 = level == "avx2";
  const bool avxvnni = level == "avxvnni";
  const bool avx512 = level == "avx512";
  const bool vnni = level == "avx512vnni" || level == "vnni";
  if (!scalar && !avx2 && !avxvnni && !avx512 && !vnni)
    return Status::errorf("unknown CPU level '{}' (scalar, avx2, avxvnni, avx512, vnni, native)", level);
  f.amx_tile = f.amx_int8 = f.amx_bf16 = false;
  f.avx512_bf16 = false;
  if (vnni) return f;
  f.avx512_vnni = false;
  if (avx512) {
    f.avx_vnni = false;
    return f;
  }
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = false;
  if (avxvnni) return f;
  f.avx_vnni = false;
  if (avx2) return f;
  f.avx = f.avx2 = f.fma = f.f16c = false;
  return f;
}

const char* kernel_level(const CpuFeatures& f) {
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
  if (avx512 && f.avx512_vnni) return "avx512vnni";
  if (avx512) return "avx512";
  if (avx2 && f.avx_vnni) return "avxvnni";
  if (avx2) return "avx2";
  return "scalar";
}

std::string describe(const CpuFeatures& f) {
  const std::pair<bool, const char*> flags[] = {
      {f.sse3, "sse3"},          {f.ssse3, "ssse3"},
      {f.sse41, "sse4.1"},       {f.sse42, "sse4.2"},
      {f.avx, "avx"},            {f.avx2, "avx2"},
      {f.fma, "fma"},            {f.f16c, "f16c"},
      {f.bmi2, "bmi2"},          {f.avx512f, "avx512f"},
      {f.avx512bw, "avx512bw"},  {f.avx512vl, "avx512vl"},
      {f.avx512dq, "avx512dq"},  {f.avx512_vnni, "avx512_vnni"},
      {f.avx512_bf16, "avx512_bf16"}, {f.avx_vnni, "avx_vnni"},
      {f.amx_tile, "amx_tile"},  {f.amx_int8, "amx_int8"},
      {f.amx_bf16, "amx_bf16"},
  };
  std::string s;
  for (const auto& [on, name] : flags) {
    if (!on) continue;
    if (!s.empty()) s += ' ';
    s += name;
  }
  return s.empty() ? "none" : s;
}

std::string describe() { return describe(cpu_features()); }

Status apply_cpu_env() {
  const char* isa = std::getenv("SHARDLM_ISA");
  const char* legacy = std::getenv("SHARDLM_CPU");
  const char* var = isa ? "SHARDLM_ISA" : "SHARDLM_CPU";
  const char* level = isa ? isa : legacy;
  if (level) {
    auto f = mask_features(cpu_features(), level);
    if (!f) return Status::errorf("{}: {}", var, f.message());
    set_cpu_features(f.value());
  }
  LOG_INFO("kernel level {} ({}; detected {}); cpu paths: {}", kernel_level(cpu_features()),
           level ? fmt::format("{}={}", var, level) : std::string("native"), kernel_level(detect_cpu_features()),
           describe(cpu_features()));
  return Status::ok();
}

}  // namespace shardlm
