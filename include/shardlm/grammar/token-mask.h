// Token masks: which token ids may come next in a GrammarState.
//
// TokenTrie holds every token's bytes (Tokenizer::token_piece) in a byte trie, built
// once per vocabulary. MaskComputer walks that trie with the state, cloning it at each
// trie node and cutting a whole subtree at the first byte the grammar rejects, so a
// mask costs the number of trie nodes the grammar lets through, not n_vocab advances.
// Masks are cached by the state's key: the states inside a string literal, after a
// '{' or ',' recur token after token and request after request.
// States inside a string literal (most tokens of most answers) take a shortcut: the
// tokens that stay in the string are a mask precomputed with the vocabulary, and only
// the few that close it are checked against the state. Under maxLength the same mask
// less the tokens that need more characters than the state has left (each body token's
// need is precomputed by running it through strings of maxLength 0, 1, ...).
// Control, unknown and unused tokens are never allowed; end-of-generation tokens only
// when the state is complete.
//
// Thread safety: a TokenTrie is immutable and shareable; a MaskComputer (its cache)
// belongs to one thread, and serves one Grammar's states.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "shardlm/grammar/grammar.h"

namespace shardlm {
class Tokenizer;
}

namespace shardlm::grammar {

// [ceil(n_vocab / 64)] words; bit (id % 64) of word (id / 64) set = id allowed.
using TokenMask = std::vector<uint64_t>;
inline bool mask_allows(const TokenMask& m, int32_t id) { return (m[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1u; }

class TokenTrie {
 public:
  struct Node {
    uint32_t first_child = 0;  // children are nodes [first_child, first_child + n_children)
    uint32_t n_children = 0;
    uint32_t first_token = 0;  // tokens whose bytes end here: ids_[first_token, end_token)
    uint32_t end_token = 0;
    uint8_t byte = 0;          // the edge from the parent
  };
  // pieces[id] = the token's bytes; an empty piece is never allowed. eog: end ids.
  static std::shared_ptr<const TokenTrie> build(const std::vector<std::string>& pieces, std::vector<int32_t> eog);
  static std::shared_ptr<const TokenTrie> build(const Tokenizer& tok);

  int32_t n_vocab() const { return n_vocab_; }
  const std::vector<Node>& nodes() const { return nodes_; }  // [0] is the root
  const std::vector<int32_t>& ids() const { return ids_; }
  const std::vector<int32_t>& eog() const { return eog_; }
  const std::string& piece(int32_t id) const { return pieces_[static_cast<size_t>(id)]; }
  size_t max_depth() const { return max_depth_; }
  // Precomputed for GrammarState::in_plain_string() states (any schema): the tokens
  // that stay inside the string, and those that close it (checked against the state).
  const TokenMask& string_body() const { return string_body_; }
  const std::vector<int32_t>& string_exits() const { return string_exits_; }
  // Body tokens and the fewest characters a string must still allow for each to stay in it.
  const std::vector<std::pair<int32_t, uint32_t>>& string_chars() const { return string_chars_; }

 private:
  void classify_string_tokens();

  int32_t n_vocab_ = 0;
  std::vector<Node> nodes_;
  std::vector<int32_t> ids_;
  std::vector<int32_t> eog_;
  std::vector<std::string> pieces_;
  size_t max_depth_ = 0;
  TokenMask string_body_;
  std::vector<int32_t> string_exits_;
  std::vector<std::pair<int32_t, uint32_t>> string_chars_;
};

struct MaskCacheOptions {
  size_t max_entries = 4096;  // cached masks (32,000 tokens: 4 KiB each); cleared when full
};

class MaskComputer {
 public:
  MaskComputer(std::shared_ptr<const TokenTrie> trie, MaskCacheOptions opts = {});
  // The allowed tokens after `st` (cached; the reference lives until the next call).
  const TokenMask& mask(const GrammarState& st);
  // Uncached full trie walk (no string shortcut), for tests and the benchmark.
  void compute(const GrammarState& st, TokenMask& out);
  // Advances st by token `id` (its bytes, or the end for an EOG id when complete).
  // False, and st unchanged, when the grammar does not allow it.
  bool accept(GrammarState& st, int32_t id) const;
  const TokenTrie& trie() const { return *trie_; }
  size_t hits() const { return hits_; }
  size_t misses() const { return misses_; }

 private:
  void walk(uint32_t node, size_t depth, TokenMask& out);
  void string_mask(const GrammarState& st, uint32_t budget, TokenMask& out) const;

  std::shared_ptr<const TokenTrie> trie_;
  MaskCacheOptions opts_;
  std::vector<GrammarState> levels_;  // [max_depth + 1] the state after each trie level
  std::unordered_map<std::string, TokenMask> cache_;
  std::string key_;
  TokenMask scratch_;
  size_t hits_ = 0, misses_ = 0;
};

}  // namespace shardlm::grammar
