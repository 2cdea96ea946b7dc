// TokenTrie construction and the masked walk (see token-mask.h).
#include "shardlm/grammar/token-mask.h"

#include <algorithm>
#include <map>

#include "shardlm/tokenizer/tokenizer.h"

namespace shardlm::grammar {

std::shared_ptr<const TokenTrie> TokenTrie::build(const std::vector<std::string>& pieces, std::vector<int32_t> eog) {
  auto t = std::make_shared<TokenTrie>();
  t->n_vocab_ = static_cast<int32_t>(pieces.size());
  t->pieces_ = pieces;
  std::sort(eog.begin(), eog.end());
  t->eog_ = std::move(eog);
  // Sorting the ids by their bytes makes every trie node's tokens and subtree contiguous.
  std::vector<int32_t> order;
  for (int32_t id = 0; id < t->n_vocab_; ++id)
    if (!pieces[static_cast<size_t>(id)].empty()) order.push_back(id);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return pieces[static_cast<size_t>(a)] < pieces[static_cast<size_t>(b)];
  });
  // Breadth-first layout: children of a node are consecutive. Build a pointer trie first.
  struct Tmp { std::map<uint8_t, uint32_t> kids; std::vector<int32_t> toks; };
  std::vector<Tmp> tmp(1);
  for (int32_t id : order) {
    uint32_t at = 0;
    for (unsigned char c : pieces[static_cast<size_t>(id)]) {
      auto it = tmp[at].kids.find(c);
      if (it == tmp[at].kids.end()) {
        tmp.emplace_back();
        it = tmp[at].kids.emplace(c, static_cast<uint32_t>(tmp.size() - 1)).first;
      }
      at = it->second;
    }
    tmp[at].toks.push_back(id);
    t->max_depth_ = std::max(t->max_depth_, pieces[static_cast<size_t>(id)].size());
  }
  std::vector<uint32_t> queue = {0};
  t->nodes_.resize(1);
  std::vector<uint32_t> slot = {0};  // queue[i] is laid out at nodes_[slot[i]]
  for (size_t qi = 0; qi < queue.size(); ++qi) {
    const Tmp& src = tmp[queue[qi]];
    Node& dst = t->nodes_[slot[qi]];
    dst.first_token = static_cast<uint32_t>(t->ids_.size());
    t->ids_.insert(t->ids_.end(), src.toks.begin(), src.toks.end());
    dst.end_token = static_cast<uint32_t>(t->ids_.size());
    dst.first_child = static_cast<uint32_t>(t->nodes_.size());
    dst.n_children = static_cast<uint32_t>(src.kids.size());
    for (const auto& [c, k] : src.kids) {
      Node child; child.byte = c;
      t->nodes_.push_back(child);
      queue.push_back(k);
      slot.push_back(static_cast<uint32_t>(t->nodes_.size() - 1));
    }
  }
  t->classify_string_tokens();
  return t;
}

void TokenTrie::classify_string_tokens() {
  auto gr = compile(nlohmann::json{{"type", "string"}});
  GrammarState body(gr.value());
  body.advance_byte('"');
  string_body_.assign((static_cast<size_t>(n_vocab_) + 63) / 64, 0);
  for (int32_t id = 0; id < n_vocab_; ++id) {
    const std::string& p = pieces_[static_cast<size_t>(id)];
    if (p.empty()) continue;
    GrammarState st = body;
    bool ok = true;
    for (unsigned char c : p) {
      if (!st.advance_byte(c)) { ok = false; break; }
      if (st.is_complete()) break;  // closed: the rest depends on what holds the string
    }
    if (!ok) continue;
    if (st.is_complete()) string_exits_.push_back(id);
    else string_body_[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
  }
  // Each body token's need: the smallest maxLength whose string body takes it whole.
  std::vector<GrammarState> bounded;  // [r]: just inside a string of maxLength r
  for (int32_t id = 0; id < n_vocab_; ++id) {
    if (!mask_allows(string_body_, id)) continue;
    const std::string& p = pieces_[static_cast<size_t>(id)];
    for (uint32_t r = 0;; ++r) {
      if (r == bounded.size()) {
        GrammarState s(compile(nlohmann::json{{"type", "string"}, {"maxLength", r}}).value());
        s.advance_byte('"');
        bounded.push_back(std::move(s));
      }
      if (bounded[r].can_accept(p)) { string_chars_.emplace_back(id, r); break; }
    }
  }
}

std::shared_ptr<const TokenTrie> TokenTrie::build(const Tokenizer& tok) {
  std::vector<std::string> pieces(static_cast<size_t>(tok.n_vocab()));
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    const TokenType ty = tok.token_type(id);
    if (ty == TokenType::Normal || ty == TokenType::Byte || ty == TokenType::UserDefined)
      pieces[static_cast<size_t>(id)] = tok.token_piece(id);
  }
  return build(pieces, tok.eos_ids());
}

MaskComputer::MaskComputer(std::shared_ptr<const TokenTrie> trie, MaskCacheOptions opts)
    : trie_(std::move(trie)), opts_(opts) {}

const TokenMask& MaskComputer::mask(const GrammarState& st) {
  st.key(key_);
  if (auto it = cache_.find(key_); it != cache_.end()) { ++hits_; return it->second; }
  ++misses_;
  if (cache_.size() >= opts_.max_entries) cache_.clear();
  TokenMask& m = cache_[key_];
  uint32_t budget = 0;
  if (st.in_string_body(budget)) string_mask(st, budget, m);
  else compute(st, m);
  return m;
}

void MaskComputer::string_mask(const GrammarState& st, uint32_t budget, TokenMask& out) const {
  out = trie_->string_body();
  if (budget != UINT32_MAX)
    for (const auto& [id, need] : trie_->string_chars())
      if (need > budget) out[static_cast<size_t>(id) >> 6] &= ~(uint64_t{1} << (id & 63));
  for (int32_t id : trie_->string_exits())
    if (st.can_accept(trie_->piece(id))) out[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
}

void MaskComputer::compute(const GrammarState& st, TokenMask& out) {
  out.assign((static_cast<size_t>(trie_->n_vocab()) + 63) / 64, 0);
  if (levels_.size() < trie_->max_depth() + 1) levels_.assign(trie_->max_depth() + 1, st);
  levels_[0] = st;
  walk(0, 0, out);
  if (st.is_complete())
    for (int32_t id : trie_->eog()) out[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
}

void MaskComputer::walk(uint32_t node, size_t depth, TokenMask& out) {
  const auto& nodes = trie_->nodes();
  const TokenTrie::Node& n = nodes[node];
  for (uint32_t i = n.first_child; i < n.first_child + n.n_children; ++i) {
    GrammarState& next = levels_[depth + 1];
    next = levels_[depth];
    if (!next.advance_byte(nodes[i].byte)) continue;
    for (uint32_t k = nodes[i].first_token; k < nodes[i].end_token; ++k) {
      const int32_t id = trie_->ids()[k];
      out[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
    }
    if (nodes[i].n_children > 0) walk(i, depth + 1, out);
  }
}

bool MaskComputer::accept(GrammarState& st, int32_t id) const {
  if (id < 0 || id >= trie_->n_vocab()) return false;
  if (std::binary_search(trie_->eog().begin(), trie_->eog().end(), id)) return st.is_complete();
  const std::string& p = trie_->piece(id);
  return !p.empty() && st.advance(p);
}

}  // namespace shardlm::grammar
