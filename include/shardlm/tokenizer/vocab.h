// VocabSpec: everything a Tokenizer needs, as plain data, whatever file it came from.
// Adapters: GGUF metadata (vocab-gguf.cpp), Hugging Face tokenizer.json
// (vocab-hf.cpp), llama2.c tokenizer.bin (vocab-llama2c.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "shardlm/core/status.h"

namespace shardlm {

class GgufFile;

// Token types, numbered as GGUF's tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,       // BOS, EOS, <|im_end|>: matched in text only when parse_special
  UserDefined = 4,   // added tokens: always matched in text, rendered raw
  Unused = 5,
  Byte = 6,          // "<0xXX>" byte-fallback tokens
};

enum class VocabKind {
  Spm,  // SentencePiece BPE: merge the adjacent pair whose union is the best-scoring token
  Bpe,  // BPE with a ranked merge list (GPT-2 byte-level, or HF BPE over raw characters)
};

struct VocabSpec {
  std::string source;             // file it came from, for messages
  VocabKind kind = VocabKind::Spm;

  // Text handling.
  bool byte_level = false;        // GPT-2 bytes<->unicode mapping of every pre-token (gpt2 GGUFs)
  bool escape_spaces = true;      // ' ' <-> U+2581 "▁" (SentencePiece, HF Metaspace/Replace)
  bool add_space_prefix = true;   // prepend a space to the text (SentencePiece's dummy prefix)
  bool space_prefix_always = true;         // false: only when the text does not start with a space (HF Metaspace)
  bool space_prefix_after_special = true;  // also to text that follows a special token (false: HF "first")
  bool byte_fallback = true;      // characters with no token become <0xXX> tokens
  bool ignore_merges = false;     // BPE: a pre-token that is itself a token is not merged
  bool fuse_unk = false;          // BPE: a run of characters with no token becomes one UNK (HF)
  std::string pre = "default";    // pre-tokenizer name (tokenizer.ggml.pre) when pre_regexes is empty
  // Pre-tokenizer: regexes applied one after the other, each splitting every piece
  // into matches and the text between them (HF Split, behavior "Isolated").
  // Empty and use_pre_name: taken from `pre`; empty otherwise: no pre-tokenization.
  std::vector<std::string> pre_regexes;
  bool use_pre_name = false;      // resolve `pre` to regexes (GGUF gpt2 vocabs)

  // Vocabulary (index = token id). scores/types may be empty (0 / Normal).
  std::vector<std::string> tokens;  // as stored: "▁Hello" (SPM), "ĠHello" (byte-level), raw for added tokens
  std::vector<float> scores;        // [n_vocab] SPM merge priority (higher first)
  std::vector<TokenType> types;     // [n_vocab]
  std::vector<std::pair<std::string, std::string>> merges;  // BPE, rank = index
  std::vector<int32_t> lstrip_ids, rstrip_ids;  // added tokens that swallow whitespace left/right

  // Special ids, -1 = none.
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1, eot_id = -1, eom_id = -1;
  std::vector<int32_t> extra_eog_ids;  // more end-of-generation ids (HF generation_config.json)
  bool add_bos = false;           // the model expects BOS at the start of a prompt
  bool add_eos = false;           // the model expects EOS at the end of an encoded text
  std::string chat_template;      // Jinja source, may be empty
};

// GGUF metadata (tokenizer.ggml.*) -> VocabSpec. Needs the model library at link time.
Result<VocabSpec> vocab_from_gguf(const GgufFile& gguf);
// Hugging Face: a directory holding tokenizer.json (+ tokenizer_config.json,
// generation_config.json), or the path of a tokenizer.json.
Result<VocabSpec> vocab_from_hf(const std::string& path);
// SentencePiece tokenizer.model (protobuf); BPE models only.
Result<VocabSpec> vocab_from_spm_model(const std::string& path);
// llama2.c tokenizer.bin: i32 max_token_length, then per token f32 score, i32 len, bytes.
Result<VocabSpec> vocab_from_llama2c(const std::string& path);

}  // namespace shardlm
