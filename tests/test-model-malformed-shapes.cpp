// Tensor shapes that once broke the readers (found by the fuzzers, tools/fuzz-smoke.sh;
// see fuzz/crashes/README.md), rebuilt here field by field from the formats' specs:
//   - GGUF ne = [0, 2^31, 2^32]: zero bytes, but the product of the other dimensions
//     (2^63) does not fit int64, so RawTensor::numel() would overflow: refused.
//   - GGUF ne = [0, 3] and safetensors shape [3, 0]: valid empty tensors whose last
//     dimension is 0; RawTensor::rows() once divided by it: 3 rows of 0 columns.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "shardlm/model/gguf.h"
#include "shardlm/model/safetensors.h"

using namespace shardlm;

namespace {

template <class T>
void put(std::vector<uint8_t>& b, T v) {
  uint8_t raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof(T));  // little-endian host (x86-64)
  b.insert(b.end(), raw, raw + sizeof(T));
}

// GGUF v3, no metadata, one F32 tensor "w" with dimensions ne (innermost first) at
// offset 0, then zero padding to the default 32-byte alignment.
std::vector<uint8_t> gguf_one_tensor(const std::vector<uint64_t>& ne) {
  std::vector<uint8_t> b = {'G', 'G', 'U', 'F'};
  put<uint32_t>(b, 3);          // version
  put<uint64_t>(b, 1);          // tensors
  put<uint64_t>(b, 0);          // metadata pairs
  put<uint64_t>(b, 1);          // name length
  b.push_back('w');
  put<uint32_t>(b, static_cast<uint32_t>(ne.size()));
  for (uint64_t d : ne) put<uint64_t>(b, d);
  put<uint32_t>(b, 0);          // GGML_TYPE_F32
  put<uint64_t>(b, 0);          // offset in the data section
  b.resize((b.size() + 31) / 32 * 32 + 32, 0);
  return b;
}

}  // namespace

TEST(MalformedShapes, GgufZeroDimWithOverflowingProductIsRefused) {
  const auto b = gguf_one_tensor({0, uint64_t{1} << 31, uint64_t{1} << 32});
  auto g = GgufFile::parse(b.data(), b.size(), "overflow.gguf");
  ASSERT_FALSE(g) << "accepted a tensor whose dimensions multiply past int64";
  EXPECT_NE(g.message().find("size overflows"), std::string::npos) << g.message();
}

TEST(MalformedShapes, GgufEmptyInnermostDimension) {
  const auto b = gguf_one_tensor({0, 3});
  auto g = GgufFile::parse(b.data(), b.size(), "empty.gguf");
  ASSERT_TRUE(g) << g.message();
  ASSERT_EQ(g.value()->tensors().size(), 1u);
  const RawTensor& t = g.value()->tensors()[0];
  EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 0}));  // PyTorch order: GGUF's ne reversed
  EXPECT_EQ(t.numel(), 0);
  EXPECT_EQ(t.rows(), 3);
  EXPECT_EQ(t.cols(), 0);
  EXPECT_EQ(t.nbytes, 0u);
}

TEST(MalformedShapes, SafetensorsEmptyLastDimension) {
  const std::string header = R"({"w": {"dtype": "F32", "shape": [3, 0], "data_offsets": [0, 0]}})";
  std::vector<uint8_t> b;
  put<uint64_t>(b, header.size());
  b.insert(b.end(), header.begin(), header.end());
  auto s = SafetensorsFile::parse(b.data(), b.size(), "empty.safetensors");
  ASSERT_TRUE(s) << s.message();
  const RawTensor* t = s.value()->tensor("w");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->numel(), 0);
  EXPECT_EQ(t->rows(), 3);
  EXPECT_EQ(t->cols(), 0);
}
