// libFuzzer entry point for the GGUF reader: any input must parse or fail cleanly,
// and every tensor of a parsed file must lie inside the input and match its shape.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "shardlm/model/gguf.h"

namespace {
// Reads every byte of [p, p+n): ASan reports a view that leaves the input.
uint8_t touch(const uint8_t* p, uint64_t n) {
  uint8_t acc = 0;
  for (uint64_t i = 0; i < n; ++i) acc ^= p[i];
  return acc;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = shardlm::GgufFile::parse(data, size, "fuzz.gguf");
  if (!r) {
    if (r.message().find("fuzz.gguf") == std::string::npos) std::abort();  // errors name the file
    return 0;
  }
  const shardlm::GgufFile& g = **r;
  volatile uint8_t sink = 0;
  for (const auto& t : g.tensors()) {
    if (t.data < data || t.nbytes > size || t.data > data + size - t.nbytes) std::abort();
    if (g.tensor(t.name) == nullptr) std::abort();
    // Consumers call numel(), rows() and cols(): they must be well defined.
    int64_t numel = 1;
    for (auto d : t.shape) {
      if (d < 0) std::abort();
      if (__builtin_mul_overflow(numel, d, &numel)) {
        std::fprintf(stderr, "tensor '%s': RawTensor::numel() overflows int64\n", t.name.c_str());
        std::abort();
      }
    }
    if (numel != t.numel()) std::abort();
    (void)t.rows();  // divides by cols()
    (void)t.cols();
    auto info = shardlm::dtype_info(t.type);
    if (!info || numel % info->block != 0) std::abort();
    if (static_cast<uint64_t>(numel / info->block) * info->bytes != t.nbytes) std::abort();
    sink = sink ^ touch(t.data, t.nbytes);
  }
  for (const auto& [k, v] : g.metadata()) {
    std::string s = v.to_string();
    sink = sink ^ static_cast<uint8_t>(s.size());
    (void)v.as_int();
    (void)v.as_float();
    (void)g.get_string_array(k);
    (void)g.get_float_array(k);
    (void)g.get_int_array(k);
    (void)g.get_bool(k);
  }
  (void)sink;
  return 0;
}
