// Tokenizer: text <-> token ids for SentencePiece-style and byte-level BPE vocabularies.
//
// Thread safety: a Tokenizer is immutable after create(); encode/decode may be called
// from any number of threads at once. A StreamDecoder belongs to one thread.
//
// Encoding, in order:
//  1. special-token partition: user-defined tokens are always cut out of the text,
//     control tokens (BOS, <|im_end|>, ...) only when parse_special (llama.cpp's order:
//     longest token text first);
//  2. each remaining text fragment: space prefix (SPM), pre-tokenizer regexes (PCRE2,
//     Unicode properties), byte-level or "▁" mapping, then merges: best score (SPM)
//     or lowest merge rank (BPE), via a priority queue;
//  3. characters with no token: <0xXX> byte tokens (byte fallback), else UNK.
// Decoding never produces invalid UTF-8: bytes that cannot form a character become
// U+FFFD; StreamDecoder holds back an incomplete trailing character until it completes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/tokenizer/vocab.h"

namespace shardlm {

class PreTokenizer;

struct DecodeOptions {
  bool render_special = false;  // write control/unknown tokens (BOS, EOS, <|im_end|>) as their text
  // The ids begin a text (no BOS before them): SPM vocabularies drop the space that
  // encode() prefixed to the first word. After a BOS (or any control/user-defined
  // token) that space is always dropped. Leave false for generated tokens that
  // continue a prompt ("▁there" after "Once upon a time" keeps its space).
  bool sequence_start = false;
};

class Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> create(VocabSpec spec);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_bos: prepend BOS (if the vocabulary has one); callers usually pass
  // add_bos_default(). EOS is never appended here (see add_eos_default()).
  // parse_special: control-token texts in `text` ("<|im_start|>") become those tokens.
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;
  // Whole sequence; equals the concatenated output of a StreamDecoder with the same options.
  std::string decode(const std::vector<int32_t>& ids, const DecodeOptions& opts = {}) const;
  // Raw bytes of one token (control tokens as their text; may be part of a UTF-8 character).
  std::string token_piece(int32_t id) const;
  // The token's text as stored in the vocabulary ("▁Hello", "ĠHello", "<0x0A>").
  const std::string& token_text(int32_t id) const;
  TokenType token_type(int32_t id) const;
  int32_t token_id(std::string_view text) const;  // -1 when absent

  int32_t bos_id() const { return bos_; }
  int32_t eos_id() const { return eos_; }
  int32_t unk_id() const { return unk_; }
  int32_t pad_id() const { return pad_; }
  std::vector<int32_t> eos_ids() const { return eog_; }  // every end-of-generation id, sorted
  bool is_eog(int32_t id) const;
  bool add_bos_default() const { return add_bos_; }
  bool add_eos_default() const { return add_eos_; }
  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
  const std::string& chat_template() const { return chat_template_; }
  VocabKind kind() const { return kind_; }
  bool byte_level() const { return byte_level_; }
  const std::string& source() const { return source_; }

 private:
  friend class StreamDecoder;
  struct Fragment;
  Tokenizer() = default;
  void partition(std::string_view text, bool parse_special, std::vector<Fragment>& out) const;
  void encode_fragment(std::string_view text, bool at_start, std::vector<int32_t>& out) const;
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  void spm_merge(std::string_view text, std::vector<int32_t>& out) const;
  void bpe_merge(std::string_view text, std::vector<int32_t>& out) const;
  void emit_unknown_bytes(std::string_view bytes, std::vector<int32_t>& out) const;
  int32_t lookup(std::string_view text) const;  // -1 when absent or not matchable by merges
  // Appends the bytes of `id` to out (see DecodeOptions); strip_space carries state.
  void append_piece(int32_t id, const DecodeOptions& opts, bool& strip_space, std::string& out) const;

  VocabKind kind_ = VocabKind::Spm;
  bool byte_level_ = false, escape_spaces_ = true, add_space_prefix_ = true, byte_fallback_ = true;
  bool prefix_always_ = true, prefix_after_special_ = true;
  bool ignore_merges_ = false, fuse_unk_ = false, add_bos_ = false, add_eos_ = false;
  std::string source_, chat_template_;
  std::vector<std::string> tokens_;   // [n_vocab] stored text
  std::vector<std::string> pieces_;   // [n_vocab] decoded bytes (control tokens: their text)
  std::vector<float> scores_;         // [n_vocab]
  std::vector<TokenType> types_;      // [n_vocab]
  std::vector<uint8_t> strip_flags_;  // [n_vocab] bit 0 lstrip, bit 1 rstrip
  struct Index;
  std::unique_ptr<Index> index_;      // text -> id, merge ranks, special-token trie
  std::vector<int32_t> specials_;     // partition order: control/user-defined/unknown, longest first
  std::vector<int32_t> byte_tokens_;  // [256] byte fallback / byte-level char token, -1 none
  std::unique_ptr<PreTokenizer> pre_;
  int32_t bos_ = -1, eos_ = -1, unk_ = -1, pad_ = -1;
  std::vector<int32_t> eog_;
};

// Incremental detokenizer: push ids one at a time; returns only complete UTF-8 text.
// An incomplete trailing character is held back (at most 3 bytes) until the next
// push completes it; bytes that can never form a character come out as U+FFFD.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, DecodeOptions opts = {});
  std::string push(int32_t id);
  std::string flush();  // end of stream: an incomplete held-back character becomes U+FFFD
  void reset();         // start a new sequence (same options)
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tok_;
  DecodeOptions opts_;
  bool strip_space_ = false;
  std::string pending_;  // raw bytes not yet emitted
};

// Load a tokenizer from a .gguf (vocab-only or full model), a Hugging Face directory
// or tokenizer.json, a SentencePiece tokenizer.model, or a llama2.c tokenizer .bin.
// Errors name the file.
Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& path);

}  // namespace shardlm
