// UTF-8 helpers for the tokenizer: character lengths, validation, a sanitizer that
// can run incrementally, and GPT-2's byte <-> unicode mapping.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace shardlm {

// Length of the UTF-8 sequence a lead byte announces (1 for invalid leads).
inline size_t utf8_seq_len(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

bool utf8_is_valid(std::string_view s);

// Appends the valid UTF-8 of `in` to out, each maximal ill-formed subpart replaced
// by U+FFFD (the Unicode-recommended practice). With final = false an incomplete
// character at the end is left unconsumed; returns the number of bytes consumed.
size_t utf8_sanitize(std::string_view in, bool final, std::string& out);

void utf8_append(uint32_t cp, std::string& out);

// GPT-2 byte-level mapping: every byte <-> one printable code point
// ('Ġ' = U+0120 for ' ', 'Ċ' = U+010A for '\n').
const std::string& byte_to_unicode(uint8_t b);  // its UTF-8
int unicode_to_byte(uint32_t cp);               // -1 if cp is not a mapped code point

}  // namespace shardlm
