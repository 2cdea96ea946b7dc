// libFuzzer entry point for the safetensors reader: any input must parse or fail
// cleanly, and every tensor of a parsed file must lie inside the input's data
// section, match its shape, and overlap no other tensor.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "shardlm/model/safetensors.h"

namespace {
uint8_t touch(const uint8_t* p, uint64_t n) {
  uint8_t acc = 0;
  for (uint64_t i = 0; i < n; ++i) acc ^= p[i];
  return acc;
}

uint64_t elem_size(shardlm::DType t) {
  auto i = shardlm::dtype_info(t);
  if (!i || i->block != 1) std::abort();  // safetensors has no block-quantized types
  return i->bytes;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = shardlm::SafetensorsFile::parse(data, size, "fuzz.safetensors");
  if (!r) {
    if (r.message().find("fuzz.safetensors") == std::string::npos) std::abort();
    return 0;
  }
  const shardlm::SafetensorsFile& f = **r;
  if (f.data_offset() < 8 || f.data_offset() > size) std::abort();
  volatile uint8_t sink = 0;
  std::vector<std::pair<const uint8_t*, uint64_t>> spans;
  for (const auto& t : f.tensors()) {
    if (t.data < data + f.data_offset() || t.nbytes > size || t.data > data + size - t.nbytes) std::abort();
    if (f.tensor(t.name) != &t) std::abort();
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
    if (static_cast<uint64_t>(numel) * elem_size(t.type) != t.nbytes) std::abort();
    if (t.nbytes) spans.emplace_back(t.data, t.nbytes);
    sink = sink ^ touch(t.data, t.nbytes);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i - 1].first + spans[i - 1].second > spans[i].first) std::abort();
  for (const auto& [k, v] : f.metadata()) sink = sink ^ static_cast<uint8_t>(k.size() + v.size());
  (void)sink;
  return 0;
}
