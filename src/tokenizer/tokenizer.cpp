// Tokenizer construction, token pieces, decoding and streaming detokenization.
#include <algorithm>
#include <cstdio>

#include "shardlm/core/log.h"
#include "shardlm/tokenizer/pre-tokenizer.h"
#include "shardlm/tokenizer/utf8.h"
#include "tokenizer/tokenizer-index.h"

namespace shardlm {

namespace {

// Texts that end generation (llama.cpp's list; they are promoted to control tokens).
constexpr const char* kEogTexts[] = {"<|eot_id|>", "<|im_end|>",  "<|end|>", "<end_of_turn>",
                                     "<|endoftext|>", "<|eom_id|>", "<EOT>",  "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>"};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "<0xAB>" -> 0xAB, else -1.
int parse_byte_token(const std::string& t) {
  if (t.size() != 6 || t[0] != '<' || t[1] != '0' || t[2] != 'x' || t[5] != '>') return -1;
  const int hi = hex_digit(t[3]), lo = hex_digit(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string replace_all(const std::string& s, std::string_view from, std::string_view to) {
  std::string r;
  r.reserve(s.size());
  size_t i = 0;
  while (true) {
    const size_t j = s.find(from, i);
    if (j == std::string::npos) break;
    r.append(s, i, j - i);
    r += to;
    i = j + from.size();
  }
  r.append(s, i, std::string::npos);
  return r;
}

std::string byte_level_decode(const std::string& s) {
  std::string r;
  r.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    const size_t n = std::min(utf8_seq_len(b0), s.size() - i);
    uint32_t cp = b0;
    if (n == 2) cp = ((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3Fu);
    const int b = n <= 2 ? unicode_to_byte(cp) : -1;
    if (b >= 0)
      r += static_cast<char>(b);
    else
      r.append(s, i, n);  // not a byte-level character: keep it as it is
    i += n;
  }
  return r;
}

}  // namespace

Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::create(VocabSpec spec) {
  const std::string where = spec.source.empty() ? std::string("tokenizer") : spec.source;
  const size_t n = spec.tokens.size();
  if (n == 0) return Status::errorf("{}: the vocabulary has no tokens", where);
  if (n > static_cast<size_t>(INT32_MAX) / 2) return Status::errorf("{}: {} tokens is too many", where, n);
  if (!spec.scores.empty() && spec.scores.size() != n)
    return Status::errorf("{}: {} scores for {} tokens", where, spec.scores.size(), n);
  if (!spec.types.empty() && spec.types.size() != n)
    return Status::errorf("{}: {} token types for {} tokens", where, spec.types.size(), n);

  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->kind_ = spec.kind;
  t->byte_level_ = spec.byte_level;
  t->escape_spaces_ = spec.escape_spaces && !spec.byte_level;
  t->add_space_prefix_ = spec.add_space_prefix;
  t->prefix_always_ = spec.space_prefix_always;
  t->prefix_after_special_ = spec.space_prefix_after_special;
  t->byte_fallback_ = spec.byte_fallback;
  t->ignore_merges_ = spec.ignore_merges;
  t->fuse_unk_ = spec.fuse_unk;
  t->add_bos_ = spec.add_bos;
  t->add_eos_ = spec.add_eos;
  t->source_ = where;
  t->chat_template_ = std::move(spec.chat_template);
  t->tokens_ = std::move(spec.tokens);
  t->scores_ = spec.scores.empty() ? std::vector<float>(n, 0.0f) : std::move(spec.scores);
  t->types_ = spec.types.empty() ? std::vector<TokenType>(n, TokenType::Normal) : std::move(spec.types);
  t->strip_flags_.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    if (t->tokens_[i].empty()) t->tokens_[i] = "[EMPTY_" + std::to_string(i) + "]";
    const auto ty = static_cast<int32_t>(t->types_[i]);
    if (ty < 0 || ty > 6) t->types_[i] = TokenType::Undefined;
  }
  auto valid_id = [&](int32_t id, const char* what) -> int32_t {
    if (id < 0) return -1;
    if (static_cast<size_t>(id) >= n) {
      LOG_WARN("{}: {} id {} is outside the vocabulary of {} tokens; ignored", where, what, id, n);
      return -1;
    }
    return id;
  };
  for (int32_t id : spec.lstrip_ids)
    if (valid_id(id, "lstrip token") >= 0) t->strip_flags_[id] |= 1;
  for (int32_t id : spec.rstrip_ids)
    if (valid_id(id, "rstrip token") >= 0) t->strip_flags_[id] |= 2;

  t->index_ = std::make_unique<Index>();
  Index& ix = *t->index_;
  ix.text_to_id.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) ix.text_to_id.insert_or_assign(std::string_view(t->tokens_[i]), static_cast<int32_t>(i));

  // End-of-generation tokens, found by id and by text.
  t->bos_ = valid_id(spec.bos_id, "BOS");
  t->eos_ = valid_id(spec.eos_id, "EOS");
  t->unk_ = valid_id(spec.unk_id, "UNK");
  t->pad_ = valid_id(spec.pad_id, "PAD");
  std::vector<int32_t> eog;
  for (int32_t id : {spec.eos_id, spec.eot_id, spec.eom_id})
    if (valid_id(id, "end-of-generation") >= 0) eog.push_back(id);
  for (int32_t id : spec.extra_eog_ids)
    if (valid_id(id, "end-of-generation") >= 0) eog.push_back(id);
  for (const char* text : kEogTexts) {
    const int32_t id = ix.find(text);
    if (id < 0) continue;
    eog.push_back(id);
    if (t->types_[id] != TokenType::Control) t->types_[id] = TokenType::Control;
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  t->eog_ = std::move(eog);

  // Merges: (left id, right id) -> (rank, result id); the first occurrence of a pair wins.
  size_t skipped = 0;
  ix.merges.reserve(spec.merges.size() * 2);
  for (size_t r = 0; r < spec.merges.size(); ++r) {
    const auto& [a, b] = spec.merges[r];
    const int32_t ia = ix.find(a), ib = ix.find(b), ir = ix.find(a + b);
    if (ia < 0 || ib < 0 || ir < 0) {
      ++skipped;
      continue;
    }
    ix.merges.emplace(Index::key(ia, ib), Index::Merge{static_cast<int32_t>(r), ir});
  }
  if (skipped) LOG_DEBUG("{}: {} merges name texts that are not tokens; skipped", where, skipped);
  if (t->kind_ == VocabKind::Bpe && ix.merges.empty() && n > 256)
    LOG_WARN("{}: BPE vocabulary without usable merges; text will encode to single characters", where);

  // Byte fallback tokens: <0xXX> (SentencePiece) or the byte-level character.
  t->byte_tokens_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    if (t->byte_level_) {
      t->byte_tokens_[b] = ix.find(byte_to_unicode(static_cast<uint8_t>(b)));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
      int32_t id = ix.find(buf);
      if (id < 0 && b < 0x80) id = t->lookup(std::string(1, static_cast<char>(b)));
      t->byte_tokens_[b] = id;
    }
  }

  // Special tokens for the partition: longest text first (stable by id).
  for (size_t i = 0; i < n; ++i) {
    const TokenType ty = t->types_[i];
    if (ty == TokenType::Control || ty == TokenType::UserDefined || ty == TokenType::Unknown)
      t->specials_.push_back(static_cast<int32_t>(i));
  }
  std::stable_sort(t->specials_.begin(), t->specials_.end(),
                   [&](int32_t a, int32_t b) { return t->tokens_[a].size() > t->tokens_[b].size(); });
  ix.trie.emplace_back();
  for (size_t si = 0; si < t->specials_.size(); ++si) {
    int32_t node = 0;
    for (char ch : t->tokens_[t->specials_[si]]) {
      const auto c = static_cast<uint8_t>(ch);
      auto& kids = ix.trie[node].kids;
      auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(c, int32_t{-1}));
      if (it != kids.end() && it->first == c) {
        node = it->second;
      } else {
        const auto child = static_cast<int32_t>(ix.trie.size());
        kids.insert(it, {c, child});
        ix.trie.emplace_back();
        node = child;
      }
    }
    if (ix.trie[node].special < 0) ix.trie[node].special = static_cast<int32_t>(si);
  }

  // Decoded bytes of every token.
  t->pieces_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& s = t->tokens_[i];
    switch (t->types_[i]) {
      case TokenType::Byte: {
        const int b = parse_byte_token(s);
        if (b >= 0) {
          t->pieces_[i] = std::string(1, static_cast<char>(b));
          break;
        }
        [[fallthrough]];
      }
      case TokenType::Normal:
      case TokenType::Undefined:
        t->pieces_[i] = t->byte_level_ ? byte_level_decode(s) : t->escape_spaces_ ? replace_all(s, "\xE2\x96\x81", " ") : s;
        break;
      case TokenType::UserDefined:
        t->pieces_[i] = t->escape_spaces_ ? replace_all(s, "\xE2\x96\x81", " ") : s;
        break;
      case TokenType::Control:
      case TokenType::Unknown:
        t->pieces_[i] = s;
        break;
      case TokenType::Unused:
        break;
    }
  }

  // Pre-tokenizer.
  std::vector<std::string> regexes = std::move(spec.pre_regexes);
  if (regexes.empty() && spec.use_pre_name) {
    bool known = false;
    regexes = pre_tokenizer_regexes(spec.pre, &known);
    if (!known) LOG_WARN("{}: unknown pre-tokenizer '{}', using the default BPE pre-tokenizer", where, spec.pre);
  }
  if (!regexes.empty()) {
    auto p = PreTokenizer::create(regexes);
    if (!p) return p.status().with_context(where);
    t->pre_ = std::move(p.value());
  }
  return t;
}

bool Tokenizer::is_eog(int32_t id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

const std::string& Tokenizer::token_text(int32_t id) const {
  static const std::string empty;
  return id >= 0 && id < n_vocab() ? tokens_[id] : empty;
}

TokenType Tokenizer::token_type(int32_t id) const {
  return id >= 0 && id < n_vocab() ? types_[id] : TokenType::Undefined;
}

int32_t Tokenizer::token_id(std::string_view text) const { return index_->find(text); }

std::string Tokenizer::token_piece(int32_t id) const {
  return id >= 0 && id < n_vocab() ? pieces_[id] : std::string();
}

void Tokenizer::append_piece(int32_t id, const DecodeOptions& opts, bool& strip_space, std::string& out) const {
  if (id < 0 || id >= n_vocab()) return;
  const TokenType ty = types_[id];
  if (ty == TokenType::Control || ty == TokenType::Unknown) {
    if (opts.render_special) out += pieces_[id];
    // The text after BOS is the start of the text; after other specials encode()
    // also prefixed a space (unless the vocabulary prefixes only the first text).
    strip_space = add_space_prefix_ && (id == bos_ || prefix_after_special_);
    return;
  }
  const std::string& p = pieces_[id];
  if (p.empty()) return;
  if (strip_space && p[0] == ' ')
    out.append(p, 1, std::string::npos);
  else
    out += p;
  strip_space = ty == TokenType::UserDefined && add_space_prefix_ && prefix_after_special_;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, const DecodeOptions& opts) const {
  std::string raw, out;
  raw.reserve(ids.size() * 4);
  bool strip = add_space_prefix_ && opts.sequence_start;
  for (int32_t id : ids) append_piece(id, opts, strip, raw);
  out.reserve(raw.size());
  utf8_sanitize(raw, true, out);
  return out;
}

StreamDecoder::StreamDecoder(const Tokenizer& tok, DecodeOptions opts) : tok_(&tok), opts_(opts) { reset(); }

void StreamDecoder::reset() {
  pending_.clear();
  strip_space_ = tok_->add_space_prefix_ && opts_.sequence_start;
}

std::string StreamDecoder::push(int32_t id) {
  tok_->append_piece(id, opts_, strip_space_, pending_);
  std::string out;
  const size_t used = utf8_sanitize(pending_, false, out);
  pending_.erase(0, used);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  utf8_sanitize(pending_, true, out);
  pending_.clear();
  return out;
}

}  // namespace shardlm
