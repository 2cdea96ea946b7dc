// Generated tokens → text for one request, with stop strings: the text that may still
// turn out to be the start of a stop string is held back until it cannot be. Owned by
// the engine thread (one per request, request-state.h).
//
// OpenAI semantics: the stop string itself is not part of the returned text, and the
// generation ends at the first occurrence of any stop string.
#pragma once
#include <string>
#include <vector>

#include "shardlm/tokenizer/tokenizer.h"

namespace shardlm {

class TextStream {
 public:
  TextStream(const Tokenizer& tok, std::vector<std::string> stop, DecodeOptions opts = {});
  struct Delta {
    std::string text;     // text now safe to send (complete UTF-8, not part of a stop string)
    bool stopped = false; // a stop string matched: text ends right before it
    std::string stop;     // the stop string that matched (the earliest in the text)
  };
  Delta push(int32_t token);
  // End of generation without a stop string: whatever was held back.
  std::string flush();

 private:
  Delta scan();
  StreamDecoder dec_;
  std::vector<std::string> stop_;
  std::string held_;  // decoded text not sent yet
};

}  // namespace shardlm
