#include "shardlm/sampling/allowed-tokens.h"

#include <algorithm>
#include <limits>

namespace shardlm {

int32_t apply_allowed_mask(float* logits, int32_t v0, int32_t n, const uint64_t* bits) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  int32_t allowed = 0;
  int32_t i = 0;
  while (i < n) {
    const int32_t id = v0 + i;
    const uint64_t w = bits[static_cast<size_t>(id) >> 6];
    const int32_t bit = id & 63;
    const int32_t span = std::min<int32_t>(64 - bit, n - i);  // tokens of this word in the slice
    const uint64_t in_slice = span == 64 ? ~uint64_t{0} : ((uint64_t{1} << span) - 1) << bit;
    if ((w & in_slice) == 0) {  // a whole run masked: the common case inside a string is the opposite
      for (int32_t j = 0; j < span; ++j) logits[i + j] = kNegInf;
    } else if ((w & in_slice) != in_slice) {
      for (int32_t j = 0; j < span; ++j)
        if (!((w >> (bit + j)) & 1u)) logits[i + j] = kNegInf;
        else ++allowed;
    } else {
      allowed += span;
    }
    i += span;
  }
  return allowed;
}

}  // namespace shardlm
