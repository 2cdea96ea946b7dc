// Tokenizer::encode: special-token partition, pre-tokenization, SPM and BPE merges.
#include <algorithm>
#include <cctype>
#include <queue>

#include "shardlm/tokenizer/pre-tokenizer.h"
#include "shardlm/tokenizer/utf8.h"
#include "tokenizer/tokenizer-index.h"

namespace shardlm {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581 "▁"

// One symbol of a word being merged; symbols form a doubly linked list.
struct Symbol {
  int32_t id;      // token id of the symbol's text, -1 if it is no token (BPE only)
  int32_t prev, next;
  size_t off, n;   // bytes [off, off+n) of the word
};

bool is_space_byte(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

}  // namespace

int32_t Tokenizer::lookup(std::string_view text) const {
  const int32_t id = index_->find(text);
  if (id < 0) return -1;
  // Control, unknown, unused and byte tokens are never produced by merging text: "<s>"
  // or "<0x41>" typed by a user stays text (control tokens need parse_special).
  switch (types_[id]) {
    case TokenType::Control:
    case TokenType::Unknown:
    case TokenType::Unused:
    case TokenType::Byte:
      return -1;
    default:
      return id;
  }
}

// llama.cpp's partition order: for each special token, longest text first, cut every
// occurrence out of every remaining text fragment. The trie pass first finds which
// special tokens occur at all, so vocabularies with thousands of added tokens stay fast.
void Tokenizer::partition(std::string_view text, bool parse_special, std::vector<Fragment>& out) const {
  out.clear();
  if (text.empty()) return;
  out.push_back({-1, 0, text.size()});
  if (specials_.empty()) return;

  const auto& trie = index_->trie;
  std::vector<char> present(specials_.size(), 0);
  size_t n_present = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    int32_t node = 0;
    for (size_t j = i; j < text.size(); ++j) {
      const auto& kids = trie[node].kids;
      const auto c = static_cast<uint8_t>(text[j]);
      auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(c, int32_t{-1}));
      if (it == kids.end() || it->first != c) break;
      node = it->second;
      const int32_t s = trie[node].special;
      if (s >= 0 && !present[s]) {
        present[s] = 1;
        ++n_present;
      }
    }
  }
  if (n_present == 0) return;

  std::vector<Fragment> next;
  for (size_t si = 0; si < specials_.size(); ++si) {
    if (!present[si]) continue;
    const int32_t id = specials_[si];
    const TokenType t = types_[id];
    if (!parse_special && (t == TokenType::Control || t == TokenType::Unknown)) continue;
    const std::string& tok = tokens_[id];
    const bool lstrip = strip_flags_[id] & 1, rstrip = strip_flags_[id] & 2;
    next.clear();
    for (const Fragment& f : out) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t base = f.off, len = f.len;
      while (len > 0) {
        const size_t m = text.substr(0, base + len).find(tok, base);
        if (m == std::string_view::npos) break;
        size_t left_len = m - base;
        if (lstrip)
          while (left_len > 0 && is_space_byte(text[base + left_len - 1])) --left_len;
        if (left_len > 0) next.push_back({-1, base, left_len});
        next.push_back({id, 0, 0});
        size_t r = m + tok.size();
        size_t r_len = base + len - r;
        if (rstrip)
          while (r_len > 0 && is_space_byte(text[r])) ++r, --r_len;
        base = r;
        len = r_len;
      }
      if (len > 0) next.push_back({-1, base, len});
    }
    out.swap(next);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && bos_ >= 0) out.push_back(bos_);
  std::vector<Fragment> frags;
  partition(text, parse_special, frags);
  bool at_start = true;
  for (const Fragment& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
    } else {
      encode_fragment(text.substr(f.off, f.len), at_start, out);
    }
    at_start = false;
  }
  return out;
}

void Tokenizer::encode_fragment(std::string_view text, bool at_start, std::vector<int32_t>& out) const {
  std::string buf;
  if (add_space_prefix_ && (at_start || prefix_after_special_) && (prefix_always_ || text.empty() || text[0] != ' ')) {
    buf.reserve(text.size() + 1);
    buf += ' ';
    buf += text;
    text = buf;
  }
  if (!pre_ || pre_->empty()) {
    encode_word(text, out);
    return;
  }
  for (std::string_view w : pre_->split(text)) encode_word(w, out);
}

void Tokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  std::string mapped;
  if (byte_level_) {
    mapped.reserve(word.size() * 2);
    for (char c : word) mapped += byte_to_unicode(static_cast<uint8_t>(c));
  } else if (escape_spaces_) {
    mapped.reserve(word.size() + 8);
    for (char c : word) {
      if (c == ' ')
        mapped += kSpaceMark;
      else
        mapped += c;
    }
  } else {
    mapped.assign(word);
  }
  if (kind_ == VocabKind::Spm)
    spm_merge(mapped, out);
  else
    bpe_merge(mapped, out);
}

// Bytes (or byte-level characters) that no token covers.
void Tokenizer::emit_unknown_bytes(std::string_view text, std::vector<int32_t>& out) const {
  if (byte_level_) {  // each character is one byte-level char; llama.cpp looks each up alone
    for (size_t i = 0; i < text.size();) {
      const size_t n = std::min(utf8_seq_len(static_cast<uint8_t>(text[i])), text.size() - i);
      const int32_t id = index_->find(text.substr(i, n));
      if (id >= 0)
        out.push_back(id);
      else if (unk_ >= 0)
        out.push_back(unk_);
      i += n;
    }
    return;
  }
  if (byte_fallback_) {  // all bytes of the character as <0xXX> tokens, or else UNK
    bool all = true;
    for (char c : text) all = all && byte_tokens_[static_cast<uint8_t>(c)] >= 0;
    if (all) {
      for (char c : text) out.push_back(byte_tokens_[static_cast<uint8_t>(c)]);
      return;
    }
  }
  if (unk_ >= 0) out.push_back(unk_);
}

// SentencePiece BPE: repeatedly merge the adjacent pair whose concatenation is the
// best-scoring token (ties: leftmost); leftover symbols with no token: byte fallback.
void Tokenizer::spm_merge(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<Symbol> sym;
  sym.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    const size_t n = std::min(utf8_seq_len(static_cast<uint8_t>(text[off])), text.size() - off);
    const auto idx = static_cast<int32_t>(sym.size());
    sym.push_back({-1, idx - 1, off + n == text.size() ? -1 : idx + 1, off, n});
    off += n;
  }
  struct Bigram {
    float score;
    int32_t left, right;
    size_t size;
  };
  auto worse = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const std::string_view s = text.substr(sym[l].off, sym[l].n + sym[r].n);
    const int32_t id = lookup(s);
    if (id < 0) return;
    queue.push({scores_[id], l, r, s.size()});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& L = sym[b.left];
    Symbol& R = sym[b.right];
    if (L.n == 0 || R.n == 0 || L.n + R.n != b.size || L.next != b.right) continue;  // stale
    L.n += R.n;
    R.n = 0;
    L.next = R.next;
    if (R.next >= 0) sym[R.next].prev = b.left;
    try_add(L.prev, b.left);
    try_add(b.left, L.next);
  }
  for (int32_t i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
    const std::string_view s = text.substr(sym[i].off, sym[i].n);
    const int32_t id = lookup(s);
    if (id >= 0)
      out.push_back(id);
    else
      emit_unknown_bytes(s, out);
  }
}

// Ranked-merge BPE (GPT-2 byte-level and HF BPE): repeatedly apply the adjacent pair
// with the lowest merge rank (ties: leftmost).
void Tokenizer::bpe_merge(std::string_view text, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    const int32_t id = lookup(text);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> sym;
  sym.reserve(text.size());
  auto add_symbol = [&](int32_t id, size_t off, size_t n) {
    const auto idx = static_cast<int32_t>(sym.size());
    sym.push_back({id, idx - 1, idx + 1, off, n});
  };
  for (size_t off = 0; off < text.size();) {
    const size_t n = std::min(utf8_seq_len(static_cast<uint8_t>(text[off])), text.size() - off);
    const int32_t id = lookup(text.substr(off, n));
    if (id < 0 && !byte_level_ && byte_fallback_) {
      // HF byte fallback: a character with no token becomes its byte tokens up front.
      bool all = true;
      for (size_t k = 0; k < n; ++k) all = all && byte_tokens_[static_cast<uint8_t>(text[off + k])] >= 0;
      if (all) {
        for (size_t k = 0; k < n; ++k) add_symbol(byte_tokens_[static_cast<uint8_t>(text[off + k])], off + k, 1);
        off += n;
        continue;
      }
    }
    add_symbol(id, off, n);
    off += n;
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  struct Bigram {
    int32_t rank, left, right, lid, rid, result;
  };
  auto worse = [](const Bigram& a, const Bigram& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  const auto& merges = index_->merges;
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0 || sym[l].id < 0 || sym[r].id < 0) return;
    auto it = merges.find(Index::key(sym[l].id, sym[r].id));
    if (it == merges.end()) return;
    queue.push({it->second.rank, l, r, sym[l].id, sym[r].id, it->second.result});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& L = sym[b.left];
    Symbol& R = sym[b.right];
    if (L.n == 0 || R.n == 0 || L.next != b.right || L.id != b.lid || R.id != b.rid) continue;  // stale
    L.id = b.result;
    L.n += R.n;
    R.n = 0;
    L.next = R.next;
    if (R.next >= 0) sym[R.next].prev = b.left;
    try_add(L.prev, b.left);
    try_add(b.left, L.next);
  }
  bool prev_unknown = false;
  for (int32_t i = 0; i >= 0; i = sym[i].next) {
    if (sym[i].id >= 0) {
      out.push_back(sym[i].id);
      prev_unknown = false;
    } else {
      // HF fuse_unk: a run of characters with no token becomes one UNK.
      const size_t before = out.size();
      const bool fuse = fuse_unk_ && prev_unknown && before > 0 && out.back() == unk_;
      emit_unknown_bytes(text.substr(sym[i].off, sym[i].n), out);
      if (fuse && out.size() == before + 1 && out.back() == unk_) out.pop_back();
      prev_unknown = true;
    }
  }
}

}  // namespace shardlm
