// The compiled form of a schema: a graph of nodes (cycles allowed: "any value" refers to
// itself) and byte tries for literal sets (enum/const/true/false/null) and object keys.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "grammar/pattern.h"
#include "shardlm/grammar/grammar.h"

namespace shardlm::grammar {

enum class NodeKind : uint8_t { Literal, String, Number, Integer, Array, Object, AnyObject, AnyOf };

inline constexpr uint32_t kUnbounded = UINT32_MAX;
inline constexpr uint32_t kNoNode = UINT32_MAX;
inline constexpr int64_t kMaxInteger = 999999999999999;  // 15 digits (the integer lexeme's bound)

struct TrieNode {
  std::vector<std::pair<uint8_t, uint32_t>> next;  // sorted by byte
  int32_t terminal = -1;   // literal: value index; key: property index; -1 none
  uint64_t below = 0;      // key tries: properties whose text passes through here
  uint32_t child(uint8_t c) const {
    for (const auto& [b, n] : next) if (b == c) return n;
    return 0;  // 0 is a root, never a child
  }
};

struct Node {
  NodeKind kind = NodeKind::AnyOf;
  uint32_t trie = 0;                 // Literal: root of its values; Object: root of its keys
  std::vector<uint32_t> alts;        // AnyOf: alternatives
  uint32_t items = 0;                // Array: the item node
  uint32_t min_items = 0, max_items = kUnbounded;
  std::vector<uint32_t> props;       // Object: value node per property index
  uint64_t required = 0, all = 0;    // Object: property bits
  uint32_t additional = kNoNode;     // Object: value node of keys outside props (none: strict)
  uint32_t min_len = 0, max_len = kUnbounded;  // String: code points of the decoded value
  std::vector<uint32_t> patterns;    // String: Grammar::patterns the value must match
  bool bounded = false;              // Integer: lo/hi apply
  int64_t lo = -kMaxInteger, hi = kMaxInteger;  // Integer: inclusive bounds
  // String: length counted (and saturated at len_cap()) only when bounded.
  bool counts_length() const { return min_len > 0 || max_len != kUnbounded; }
  uint32_t len_cap() const { return max_len != kUnbounded ? max_len : min_len; }
  // String: the shared "inside a string" mask applies (no constraint on the body).
  bool plain_string() const { return !counts_length() && patterns.empty(); }
};

class Grammar {
 public:
  std::vector<Node> nodes;
  std::vector<TrieNode> tries;  // every trie's nodes, roots included
  std::vector<std::shared_ptr<const Pattern>> patterns;  // String nodes' patterns
  uint32_t root = 0;
  uint32_t any = 0;  // the any-value AnyOf (object, array, string, number, literals), when used
  uint32_t count_cap(const Node& n) const {  // array counts saturate here (same future)
    return n.max_items != kUnbounded ? n.max_items : n.min_items;
  }
};

}  // namespace shardlm::grammar
