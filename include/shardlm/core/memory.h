// Memory probes from /proc: this process's resident set, the node's available memory.
#pragma once
#include <cstdint>

namespace shardlm {

uint64_t rss_bytes();         // VmRSS of this process
// RssAnon: the private memory (heap, anonymous mappings) without file-backed pages
// such as code touched for the first time; what a leak would grow.
uint64_t anon_rss_bytes();
uint64_t available_bytes();   // MemAvailable, capped by the cgroup limit when one is set
// Return freed heap pages to the OS (glibc malloc_trim).
void trim_heap();

}  // namespace shardlm
