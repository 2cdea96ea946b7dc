// A JSON-schema `pattern` (or a `format` written as one) on the decoded string value,
// asked one prefix at a time: can this prefix still become a value that matches, and
// does it match now (the string may close)?
//
// JSON Schema's pattern is a search (unanchored unless the pattern anchors itself). A
// pattern that PCRE2 finds anchored by its structure (every top-level branch starts
// with ^) is matched at the start with PCRE2_PARTIAL_SOFT: a prefix is Full when it
// matches, Partial when the end was reached while matching (more characters may
// complete it), else Dead. Any other pattern can still match after any prefix (the
// match may come later), so a prefix is Full if the pattern occurs in it, else Partial.
// Options: UTF (the value is matched as code points), DOLLAR_ENDONLY (`$` at the very
// end, as ECMA-262), ALT_BSUX (`\uhhhh`, `\xhh` as ECMA-262). `\d`, `\w`, `\s` are
// ASCII (no UCP).
//
// Cost bound: the subject is at most kMaxPatternBytes bytes (strings under a pattern are
// at most that long, decoded) and each match runs under a match limit of kMatchLimit
// (a match that hits it counts as no match: the grammar only gets stricter).
//
// Thread safety: a Pattern is immutable after compile and shared by every state of its
// grammar; the match data is per thread.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "shardlm/core/status.h"

namespace shardlm::grammar {

inline constexpr size_t kMaxPatternBytes = 256;
inline constexpr uint32_t kMatchLimit = 20000;

class Pattern {
 public:
  enum class Verdict { Dead, Partial, Full };  // Full: matches now (and may go on)

  // `source` is the schema's pattern text; errors quote PCRE2's message and offset.
  static Result<std::shared_ptr<const Pattern>> compile(const std::string& source);
  ~Pattern();
  Pattern(const Pattern&) = delete;
  Pattern& operator=(const Pattern&) = delete;

  Verdict check(std::string_view text) const;
  bool viable(std::string_view text) const { return check(text) != Verdict::Dead; }
  bool full(std::string_view text) const { return check(text) == Verdict::Full; }
  const std::string& source() const { return source_; }
  // No item of the pattern can match a non-ASCII character (ASCII text, no '.', no
  // negated class, no escape that can stand for one, no inline option): then every
  // non-ASCII character fares the same at any place, and one stands for all.
  bool ascii_only() const { return ascii_only_; }

 private:
  Pattern() = default;
  std::string source_;
  bool ascii_only_ = false;
  bool anchored_ = false;  // anchored by its own structure (^ on every branch, ...)
  void* code_ = nullptr;  // pcre2_code_8
};

// The pattern source for a supported `format` (date, time, date-time, uuid, email,
// ipv4), or nullptr for any other format name.
const char* format_pattern(const std::string& format);

}  // namespace shardlm::grammar
