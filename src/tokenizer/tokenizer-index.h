// Lookup tables of a Tokenizer (private to src/tokenizer/).
#pragma once
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shardlm/tokenizer/tokenizer.h"

namespace shardlm {

struct Tokenizer::Fragment {
  int32_t token = -1;  // >= 0: a special token cut out of the text; else text [off, off+len)
  size_t off = 0, len = 0;
};

struct Tokenizer::Index {
  // Views into Tokenizer::tokens_ (never modified after create()).
  std::unordered_map<std::string_view, int32_t> text_to_id;
  struct Merge {
    int32_t rank;    // position in the merge list: lower merges first
    int32_t result;  // token id of the merged pair
  };
  std::unordered_map<uint64_t, Merge> merges;  // key: left id << 32 | right id
  // Byte trie over the texts of specials_, to find which of them occur in a text.
  struct TrieNode {
    std::vector<std::pair<uint8_t, int32_t>> kids;  // byte -> node
    int32_t special = -1;                            // index into specials_ ending here
  };
  std::vector<TrieNode> trie;

  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  int32_t find(std::string_view s) const {
    auto it = text_to_id.find(s);
    return it == text_to_id.end() ? -1 : it->second;
  }
};

}  // namespace shardlm
