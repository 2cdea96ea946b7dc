// A tensor as stored in a model file: a view into mapped memory, never owned.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "shardlm/core/dtype.h"

namespace shardlm {

struct RawTensor {
  std::string name;            // name in the file ("blk.0.attn_q.weight", "model.layers.0...")
  DType type = DType::F32;
  // Row-major shape, outermost first (PyTorch order): a Linear weight is
  // [n_out, n_in]. (GGUF's ne[] is this reversed.)
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapped file; valid while the file is open
  uint64_t nbytes = 0;
  std::string file;               // path of the file holding it (for error messages)

  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  int64_t rows() const {  // product of all dimensions but the last
    int64_t n = 1;
    for (size_t i = 0; i + 1 < shape.size(); ++i) n *= shape[i];
    return n;
  }
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
};

}  // namespace shardlm
