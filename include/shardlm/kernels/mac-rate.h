// The machine's multiply-accumulate rate, measured with tight register-only loops of
// the instructions the kernels use at the current level (cpu_features()): the compute
// ceiling of a roofline, beside stream-read.h's bandwidth ceiling.
//   int8: VNNI vpdpbusd zmm (64 MACs each) / AVX-VNNI vpdpbusd ymm (32) / AVX2
//         vpmaddubsw + vpaddw (32 MACs per pair, the Q4 panel kernel's inner step) /
//         scalar: none (0);
//   f32:  vfmadd zmm (16) / ymm (8) / scalar multiply-add (1).
// 12 multiplies a loop iteration into independent accumulators (6 for the AVX2 pairs,
// whose vpaddw has a one-cycle latency) hide the instruction latencies. A benchmark helper: it
// runs `threads` threads at once (as decoding does) and returns MACs per second summed
// over them (the best of a few passes).
#pragma once

namespace shardlm {

double int8_mac_rate(int threads);
double f32_mac_rate(int threads);

}  // namespace shardlm
