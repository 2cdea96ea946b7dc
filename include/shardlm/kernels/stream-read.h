// The memory-read reference of the benchmarks (bench-kernels, shardlm-perf): stream
// bytes once with the widest plain loads this CPU has (AVX2, else 8-byte words) and
// fold them into a value the compiler cannot drop. What a kernel that reads its
// weights once is judged against.
#pragma once
#include <cstddef>
#include <cstdint>

namespace shardlm {

// XOR of the bytes at p (the value only keeps the loads alive).
uint64_t stream_read(const uint8_t* p, size_t bytes);

// Read bandwidth (bytes/s) of `threads` threads streaming disjoint parts of one buffer
// of `bytes` (allocated and touched here): the median of 5 passes after a warm-up.
double stream_read_bandwidth(int threads, size_t bytes);

}  // namespace shardlm
