#include "shardlm/core/memory.h"

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace shardlm {

static uint64_t read_kb_field(const char* path, const char* key) {
  FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  char line[256];
  uint64_t v = 0;
  const size_t kl = std::strlen(key);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, key, kl) == 0) {
      v = std::strtoull(line + kl, nullptr, 10) * 1024;
      break;
    }
  }
  std::fclose(f);
  return v;
}

uint64_t rss_bytes() { return read_kb_field("/proc/self/status", "VmRSS:"); }
uint64_t anon_rss_bytes() { return read_kb_field("/proc/self/status", "RssAnon:"); }

static uint64_t read_u64_file(const char* path) {
  std::ifstream f(path);
  std::string s;
  if (!(f >> s) || s == "max") return 0;
  return std::strtoull(s.c_str(), nullptr, 10);
}

uint64_t available_bytes() {
  uint64_t avail = read_kb_field("/proc/meminfo", "MemAvailable:");
  // cgroup v2 limit, if any.
  uint64_t limit = read_u64_file("/sys/fs/cgroup/memory.max");
  if (limit > 0) {
    uint64_t cur = read_u64_file("/sys/fs/cgroup/memory.current");
    uint64_t room = limit > cur ? limit - cur : 0;
    avail = std::min(avail, room);
  }
  return avail;
}

void trim_heap() { malloc_trim(0); }

}  // namespace shardlm
