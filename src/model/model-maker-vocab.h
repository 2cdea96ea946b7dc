// make-model's vocabulary: read from a GGUF, a Hugging Face tokenizer.json (or its
// directory) or a llama2.c tokenizer .bin, and written as GGUF tokenizer.* metadata or
// as Hugging Face tokenizer files. Internal to the model maker.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/model/gguf.h"

namespace shardlm {

class GgufWriter;

// GGUF token types.
enum MakerTokenType : int32_t { kTokNormal = 1, kTokUnknown = 2, kTokControl = 3, kTokUser = 4, kTokUnused = 5, kTokByte = 6 };

struct MakerVocab {
  std::string source;                  // the path it was read from
  std::string kind;                    // "gguf", "hf", "llama2c"
  std::string model;                   // "llama" (SentencePiece-style, ▁ and byte fallback) or "gpt2" (byte-level BPE)
  std::string pre = "default";         // tokenizer.ggml.pre (byte-level pre-tokenizer name)
  std::vector<std::string> tokens;     // by id
  std::vector<float> scores;           // by id (empty: none)
  std::vector<int32_t> types;          // by id, MakerTokenType
  std::vector<std::string> merges;     // "left right", highest priority first (may be empty for llama)
  int64_t bos = -1, eos = -1, unk = -1, pad = -1;
  std::optional<bool> add_bos, add_eos;
  std::string chat_template;
  // kind "gguf": every tokenizer.* key, copied verbatim into a GGUF output.
  std::vector<std::pair<std::string, GgufValue>> gguf_kv;
  // kind "hf": the files copied verbatim into an HF output ("" = absent).
  std::string hf_tokenizer_json, hf_tokenizer_config, hf_special_tokens_map;

  int n_vocab() const { return static_cast<int>(tokens.size()); }
};

Result<MakerVocab> load_maker_vocab(const std::string& path);
// tokenizer.* keys: verbatim from a GGUF source, else converted.
void add_vocab_to_gguf(const MakerVocab& v, GgufWriter& w);
// tokenizer.json + tokenizer_config.json (+ special_tokens_map.json): copied from an HF
// source, else generated.
Status write_vocab_hf(const MakerVocab& v, const std::string& dir, int n_ctx);

// HF merges for a SentencePiece vocabulary, as transformers' SentencePieceExtractor
// derives them: every split of every piece into two pieces of the vocabulary, ordered
// by the piece's score (highest first), ties by (left id, right id).
std::vector<std::string> spm_merges_from_scores(const std::vector<std::string>& tokens,
                                                const std::vector<float>& scores);

}  // namespace shardlm
