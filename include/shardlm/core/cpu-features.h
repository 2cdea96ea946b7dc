// Run-time CPU feature detection (x86-64: cpuid + xgetbv; other architectures report
// nothing). Kernels choose their instruction-set path from cpu_features(), so one
// build runs on any x86-64 machine and uses AVX2 / AVX-512 where the CPU and the OS
// support them.
//
// Threads: detection runs once, on first use (thread-safe static). set_cpu_features()
// must be called from main before any other thread starts (it is not synchronized).
#pragma once
#include <string>
#include <string_view>

#include "shardlm/core/status.h"

namespace shardlm {

// Each flag is true only when the CPU has the instructions AND the OS saves the
// register state they need (XCR0): AVX/FMA/F16C/AVX2 need YMM state, AVX-512 needs
// opmask + ZMM state, AMX needs TILECFG + TILEDATA state. All default to false.
struct CpuFeatures {
  bool sse3 = false, ssse3 = false, sse41 = false, sse42 = false;
  bool avx = false, avx2 = false, fma = false, f16c = false, bmi2 = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_vnni = false, avx512_bf16 = false;
  bool avx_vnni = false;  // VEX-encoded VNNI (256-bit)
  // AMX: detected only. Using tiles on Linux also needs the process to ask for the
  // TILEDATA state with arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
  bool amx_tile = false, amx_int8 = false, amx_bf16 = false;
};

// The features of this machine, as detected (never changed by set_cpu_features).
CpuFeatures detect_cpu_features();

// The features kernels may use: the detected set, or what set_cpu_features() chose.
CpuFeatures cpu_features();

// Replace the set returned by cpu_features() (main, e.g. from SHARDLM_CPU). Features
// the machine lacks are never turned on: the argument is intersected with the
// detected set.
void set_cpu_features(const CpuFeatures& f);

// Limit f to a level: "scalar" (no SIMD beyond the x86-64 baseline), "avx2" (AVX2,
// FMA, F16C; no AVX-512, VNNI or AMX: an AMD Zen 1/2 or Intel Haswell..Skylake client),
// "avxvnni" (avx2 plus VEX-encoded AVX-VNNI, as on Alder Lake clients), "avx512" (adds
// AVX-512 F/BW/VL/DQ; no VNNI, BF16 or AMX), "avx512vnni" or "vnni" (adds AVX512-VNNI and
// AVX-VNNI; no BF16 or AMX), "native" or "" (unchanged). Only clears flags. Error for
// any other name.
Result<CpuFeatures> mask_features(CpuFeatures f, std::string_view level);

// The kernel level f allows, as mask_features names it: "scalar", "avx2", "avxvnni",
// "avx512", "avx512vnni".
const char* kernel_level(const CpuFeatures& f);

// The level from the environment: SHARDLM_ISA=scalar|avx2|avxvnni|avx512|vnni|native
// (SHARDLM_CPU is the older name, read when SHARDLM_ISA is unset) limits cpu_features()
// with mask_features (call from main, after log_init and before other threads start).
// Logs the chosen level once (info, rank-tagged). Ok when unset; an error naming the
// variable for an unknown level.
Status apply_cpu_env();

// "avx2 fma f16c avx512f ..." (the flags that are on), "none" when empty.
std::string describe(const CpuFeatures& f);
std::string describe();  // of cpu_features()

}  // namespace shardlm
