// GrammarState: one byte at a time through every live stack (see grammar.h).
//
// Phases per kind (scalars: scalar-steps.h):
//   Array   0 expect '[', 1 after '[', 2 after an item, 3 after ','  (pos = items, saturated)
//   Object  0 expect '{', 1 after '{', 2 in a key (pos = key trie node), 3 expect ':'
//           (pos = property, kNoNode: an additional key), 4 expect value, 5 after a value,
//           6 after ',', 7 in a key of an object with additionalProperties (pos = key trie
//           node while the bytes follow a property's name, else 0; a '\' leaves only the
//           property names: phase 2)
//   AnyObject: as Object, the key is a String frame pushed at its body
//   Literal pos = trie node (starts at the trie's root)
// A container sets its next phase before pushing the child it waits for, so a child
// that pops leaves its parent ready. Numbers and literals that may continue ("1" of
// "12") pop when a byte cannot continue them, and the byte goes to the parent.
#include <algorithm>

#include "grammar/grammar-nodes.h"
#include "grammar/scalar-steps.h"

namespace shardlm::grammar {
namespace {

using Out = std::vector<Stack>;

class Stepper {
 public:
  Stepper(const Grammar& g, Out& out) : g_(g), out_(out) {}

  // Feeds c to `s` (consumed by value: forks copy it); live results go to out_.
  void run(Stack s, uint8_t c) {
    while (true) {
      if (s.frames.empty()) return;  // the document already ended
      Frame& f = s.frames.back();
      const Node& n = g_.nodes[f.node];
      switch (n.kind) {
        case NodeKind::Literal: {
          const TrieNode& t = g_.tries[f.pos];
          const uint32_t nx = t.child(c);
          if (nx != 0) {
            f.pos = nx;
            if (g_.tries[nx].next.empty()) s.frames.pop_back();
            return emit(std::move(s));
          }
          if (t.terminal < 0) return;
          s.frames.pop_back();
          continue;
        }
        case NodeKind::String: {
          bool pop = false;
          if (string_step(g_, n, f, s.text, c, pop) != Step::Consumed) return;
          if (pop) { s.frames.pop_back(); s.text.clear(); }
          return emit(std::move(s));
        }
        case NodeKind::Number: case NodeKind::Integer: {
          const Step r = n.bounded ? bounded_integer_step(n, f, c) : number_step(f, c, n.kind == NodeKind::Integer);
          if (r == Step::Rejected) return;
          if (r == Step::Consumed) return emit(std::move(s));
          s.frames.pop_back();
          continue;
        }
        case NodeKind::Array: return array(std::move(s), n, c);
        case NodeKind::Object: return object(std::move(s), n, c);
        case NodeKind::AnyObject: return any_object(std::move(s), c);
        case NodeKind::AnyOf: return;  // never on a stack
      }
    }
  }

  // Pushes `node` (forking over anyOf) and feeds it c.
  void value(Stack s, uint32_t node, uint8_t c) {
    const Node& n = g_.nodes[node];
    if (n.kind == NodeKind::AnyOf) {
      for (size_t i = 0; i < n.alts.size(); ++i) {
        if (i + 1 == n.alts.size()) return value(std::move(s), n.alts[i], c);
        value(s, n.alts[i], c);
      }
      return;
    }
    if (s.frames.size() >= kMaxDepth) return;
    Frame f; f.node = node;
    if (n.kind == NodeKind::Literal) f.pos = n.trie;
    s.frames.push_back(f);
    s.text.clear();
    run(std::move(s), c);
  }

 private:
  void emit(Stack s) {
    for (const auto& o : out_) if (o == s) return;
    out_.push_back(std::move(s));
  }

  void array(Stack s, const Node& n, uint8_t c) {
    Frame& f = s.frames.back();
    const uint32_t cap = g_.count_cap(n);
    auto item = [&]() {
      if (n.max_items != kUnbounded && f.pos >= n.max_items) return;
      f.phase = 2;
      f.pos = std::min(f.pos + 1, cap == 0 ? 0u : cap);
      value(std::move(s), n.items, c);
    };
    switch (f.phase) {
      case 0: if (c == '[') { f.phase = 1; emit(std::move(s)); } return;
      case 1:
        if (c == ']') { if (n.min_items == 0) { s.frames.pop_back(); emit(std::move(s)); } return; }
        return item();
      case 2:
        if (c == ']') { if (f.pos >= n.min_items) { s.frames.pop_back(); emit(std::move(s)); } return; }
        if (c == ',' && (n.max_items == kUnbounded || f.pos < n.max_items)) { f.phase = 3; emit(std::move(s)); }
        return;
      case 3: return item();
      default: return;
    }
  }

  void object(Stack s, const Node& n, uint8_t c) {
    Frame& f = s.frames.back();
    const bool open = n.additional != kNoNode;  // keys outside props allowed
    switch (f.phase) {
      case 0: if (c == '{') { f.phase = 1; emit(std::move(s)); } return;
      case 1: case 5:
        if (c == '}') { if ((n.required & ~f.seen) == 0) { s.frames.pop_back(); emit(std::move(s)); } return; }
        if (f.phase == 1 && c == '"' && key_open(f, n)) emit(std::move(s));
        if (f.phase == 5 && c == ',' && (open || (n.all & ~f.seen) != 0)) { f.phase = 6; emit(std::move(s)); }
        return;
      case 6: if (c == '"' && key_open(f, n)) emit(std::move(s)); return;
      case 2: {
        const uint32_t nx = g_.tries[f.pos].child(c);
        if (nx == 0 || (g_.tries[nx].below & ~f.seen) == 0) return;
        const int32_t prop = g_.tries[nx].terminal;
        if (prop >= 0) { f.phase = 3; f.pos = static_cast<uint32_t>(prop); f.seen |= uint64_t{1} << prop; }
        else f.pos = nx;
        return emit(std::move(s));
      }
      case 7: if (open_key(f, c)) emit(std::move(s)); return;
      case 3: if (c == ':') { f.phase = 4; emit(std::move(s)); } return;
      case 4: {
        const uint32_t v = f.pos == kNoNode ? n.additional : n.props[f.pos];
        f.phase = 5; f.pos = 0;
        return value(std::move(s), v, c);
      }
      default: return;
    }
  }

  // After '"' of a key: the property-name trie (strict objects), or phase 7 (open ones).
  bool key_open(Frame& f, const Node& n) {
    const uint32_t nx = g_.tries[n.trie].child('"');
    if (n.additional != kNoNode) {
      f.phase = 7; f.pos = nx; f.utf8 = 0; f.lo = 0x80; f.hi = 0xBF;
      return true;
    }
    if (nx == 0 || (g_.tries[nx].below & ~f.seen) == 0) return false;
    f.phase = 2; f.pos = nx;
    return true;
  }

  // A key byte of an object with additionalProperties: a property's name (each once)
  // or any other unescaped string.
  bool open_key(Frame& f, uint8_t c) {
    if (f.utf8 > 0 || (c != '"' && c != '\\')) {
      if (utf8_byte(f, c) != Step::Consumed) return false;
      f.pos = f.pos != 0 ? g_.tries[f.pos].child(c) : 0;
      return true;
    }
    const uint32_t nx = f.pos != 0 ? g_.tries[f.pos].child(c) : 0;
    if (c == '\\') {  // escapes only inside a property's name
      if (nx == 0 || (g_.tries[nx].below & ~f.seen) == 0) return false;
      f.phase = 2; f.pos = nx;
      return true;
    }
    const int32_t prop = nx != 0 ? g_.tries[nx].terminal : -1;
    if (prop >= 0) {
      if (f.seen & (uint64_t{1} << prop)) return false;  // written already
      f.seen |= uint64_t{1} << prop;
      f.phase = 3; f.pos = static_cast<uint32_t>(prop);
      return true;
    }
    f.phase = 3; f.pos = kNoNode;
    return true;
  }

  void any_object(Stack s, uint8_t c) {
    Frame& f = s.frames.back();
    auto key = [&]() {
      if (s.frames.size() >= kMaxDepth) return;
      f.phase = 3;
      Frame k; k.node = string_node(); k.phase = 1;
      s.frames.push_back(k);
      emit(std::move(s));
    };
    switch (f.phase) {
      case 0: if (c == '{') { f.phase = 1; emit(std::move(s)); } return;
      case 1: case 5:
        if (c == '}') { s.frames.pop_back(); emit(std::move(s)); return; }
        if (f.phase == 1 && c == '"') key();
        if (f.phase == 5 && c == ',') { f.phase = 6; emit(std::move(s)); }
        return;
      case 6: if (c == '"') key(); return;
      case 3: if (c == ':') { f.phase = 4; emit(std::move(s)); } return;
      case 4: f.phase = 5; return value(std::move(s), any_node(), c);
      default: return;
    }
  }

  // The "any value" node and its string alternative (compile() creates them for AnyObject).
  uint32_t any_node() const { return g_.any; }
  uint32_t string_node() const { return g_.nodes[g_.any].alts[2]; }

  const Grammar& g_;
  Out& out_;
};

}  // namespace

GrammarState::GrammarState(std::shared_ptr<const Grammar> g) : g_(std::move(g)) {
  threads_.emplace_back();  // one empty stack: the root value has not started
}

bool GrammarState::advance_byte(uint8_t c) {
  next_.clear();
  Stepper st(*g_, next_);
  if (!started_) st.value(Stack{}, g_->root, c);
  else for (const auto& s : threads_) st.run(s, c);
  if (next_.empty()) return false;
  started_ = true;
  threads_.swap(next_);
  return true;
}

bool GrammarState::advance(std::string_view bytes) {
  GrammarState copy = *this;
  for (unsigned char c : bytes)
    if (!copy.advance_byte(c)) return false;
  *this = std::move(copy);
  return true;
}

bool GrammarState::can_accept(std::string_view bytes) const {
  GrammarState copy = *this;
  return copy.advance(bytes);
}

bool GrammarState::can_accept_byte(uint8_t c) const {
  GrammarState copy = *this;
  return copy.advance_byte(c);
}

bool GrammarState::is_complete() const {
  if (!started_) return false;
  for (const auto& s : threads_) {
    if (s.frames.empty()) return true;
    if (s.frames.size() != 1) continue;
    const Frame& f = s.frames[0];
    const Node& n = g_->nodes[f.node];
    if (n.kind == NodeKind::Integer && n.bounded) {
      if (bounded_integer_can_end(n, f)) return true;
      continue;
    }
    if ((n.kind == NodeKind::Number || n.kind == NodeKind::Integer) && number_can_end(f)) return true;
    if (n.kind == NodeKind::Literal && g_->tries[f.pos].terminal >= 0) return true;
  }
  return false;
}

bool GrammarState::is_finished() const {
  if (!is_complete()) return false;
  for (int c = 0; c < 256; ++c)
    if (can_accept_byte(static_cast<uint8_t>(c))) return false;
  return true;
}

bool GrammarState::in_plain_string() const {
  if (threads_.size() != 1 || threads_[0].frames.empty()) return false;
  const Frame& f = threads_[0].frames.back();
  const Node& n = g_->nodes[f.node];
  return n.kind == NodeKind::String && n.plain_string() && f.phase == 1 && f.utf8 == 0;
}

bool GrammarState::in_string_body(uint32_t& budget) const {
  if (threads_.size() != 1 || threads_[0].frames.empty()) return false;
  const Frame& f = threads_[0].frames.back();
  const Node& n = g_->nodes[f.node];
  if (n.kind != NodeKind::String || !n.patterns.empty() || f.phase != 1 || f.utf8 != 0 || f.unit != 0) return false;
  budget = n.max_len == kUnbounded ? UINT32_MAX : n.max_len - std::min(f.len, n.max_len);
  return true;
}

void GrammarState::key(std::string& out) const {
  out.clear();
  const Grammar* gp = g_.get();  // keys of different grammars never meet
  out.append(reinterpret_cast<const char*>(&gp), sizeof gp);
  out.push_back(started_ ? 'S' : 'N');
  for (const auto& s : threads_) {
    out.push_back('|');
    for (const Frame& f : s.frames) {
      const uint8_t b[4] = {f.phase, f.utf8, f.lo, f.hi};
      out.append(reinterpret_cast<const char*>(&f.node), sizeof f.node);
      out.append(reinterpret_cast<const char*>(&f.pos), sizeof f.pos);
      out.append(reinterpret_cast<const char*>(&f.seen), sizeof f.seen);
      out.append(reinterpret_cast<const char*>(&f.len), sizeof f.len);
      out.append(reinterpret_cast<const char*>(&f.unit), sizeof f.unit);
      out.append(reinterpret_cast<const char*>(b), sizeof b);
    }
    const auto n = static_cast<uint32_t>(s.text.size());
    out.append(reinterpret_cast<const char*>(&n), sizeof n);
    out.append(s.text);
  }
}

}  // namespace shardlm::grammar
