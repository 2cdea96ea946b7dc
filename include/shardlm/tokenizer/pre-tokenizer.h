// Pre-tokenizer: a list of PCRE2 regexes (UTF, Unicode properties, JIT), applied one
// after the other; each splits every current piece into its matches and the text
// between them (both kept, as HF's Split with behavior "Isolated"). A piece is matched
// on its own: lookarounds never see past its ends.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shardlm/core/status.h"

namespace shardlm {

// Regexes of a named pre-tokenizer (GGUF tokenizer.ggml.pre: "llama3", "qwen2",
// "gpt-2", "deepseek-llm", ...). Unknown names: empty, known = false.
std::vector<std::string> pre_tokenizer_regexes(const std::string& name, bool* known = nullptr);

// The GPT-2 pattern (also HF ByteLevel's use_regex).
extern const char* const kGpt2Regex;

class PreTokenizer {
 public:
  static Result<std::unique_ptr<PreTokenizer>> create(const std::vector<std::string>& regexes);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Pieces of text (views into it), in order; their concatenation is text.
  std::vector<std::string_view> split(std::string_view text) const;
  bool empty() const { return codes_.empty(); }

 private:
  PreTokenizer() = default;
  struct Code;
  std::vector<std::unique_ptr<Code>> codes_;
};

}  // namespace shardlm
