#include "shardlm/engine/text-stream.h"

#include <algorithm>

namespace shardlm {

TextStream::TextStream(const Tokenizer& tok, std::vector<std::string> stop, DecodeOptions opts)
    : dec_(tok, opts), stop_(std::move(stop)) {
  stop_.erase(std::remove(stop_.begin(), stop_.end(), std::string()), stop_.end());
}

TextStream::Delta TextStream::push(int32_t token) {
  held_ += dec_.push(token);
  return scan();
}

TextStream::Delta TextStream::scan() {
  Delta d;
  size_t first = std::string::npos;
  for (const auto& s : stop_) {
    const size_t at = held_.find(s);
    if (at < first) {
      first = at;
      d.stop = s;
    }
  }
  if (first != std::string::npos) {
    d.text = held_.substr(0, first);
    d.stopped = true;
    held_.clear();
    return d;
  }
  // Hold back the longest suffix of held_ that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const auto& s : stop_)
    for (size_t k = std::min(s.size() - 1, held_.size()); k > keep; --k)
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
  d.text = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return d;
}

std::string TextStream::flush() {
  held_ += dec_.flush();
  Delta d = scan();
  if (d.stopped) return d.text;
  std::string out = d.text + held_;
  held_.clear();
  return out;
}

}  // namespace shardlm
