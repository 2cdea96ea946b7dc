#include "shardlm/spec/ngram-proposer.h"

#include <algorithm>

namespace shardlm {

std::vector<int32_t> ngram_propose(const std::vector<int32_t>& tokens, int n_min, int n_max, int k) {
  const int64_t len = static_cast<int64_t>(tokens.size());
  if (k <= 0 || n_min < 1) return {};
  for (int64_t n = std::min<int64_t>(n_max, len - 1); n >= n_min; --n) {
    const int32_t* suffix = tokens.data() + (len - n);
    // An occurrence starting at i (i + n < len, so something follows it), most recent first.
    for (int64_t i = len - n - 1; i >= 0; --i) {
      if (!std::equal(suffix, suffix + n, tokens.data() + i)) continue;
      const int64_t from = i + n, to = std::min<int64_t>(from + k, len);
      return std::vector<int32_t>(tokens.begin() + from, tokens.begin() + to);
    }
  }
  return {};
}

}  // namespace shardlm
