// llama2.c tokenizer.bin -> VocabSpec.
//
// Format (little-endian): i32 max_token_length, then until the end of the file, per
// token: f32 score, i32 length, length bytes. The vocabulary size is not stored.
// llama2.c's exporter wrote SentencePiece pieces with "▁" replaced by ' ' and BOS/EOS
// as "\n<s>\n" / "\n</s>\n"; both are undone here, so the result is an SPM vocabulary.
#include <cstring>

#include "shardlm/core/regular-file.h"
#include "shardlm/tokenizer/vocab.h"

namespace shardlm {

Result<VocabSpec> vocab_from_llama2c(const std::string& path) {
  auto read = read_regular_file(path);
  if (!read) return read.status();
  const std::string& data = read.value();
  if (data.size() < 4) return Status::errorf("{}: too short for a llama2.c tokenizer", path);
  auto rd32 = [&](size_t off) {
    uint32_t x;
    std::memcpy(&x, data.data() + off, 4);
    return x;
  };
  const auto max_len = static_cast<int32_t>(rd32(0));
  if (max_len <= 0 || max_len > (1 << 20))
    return Status::errorf("{}: max_token_length {} is implausible; not a llama2.c tokenizer", path, max_len);

  VocabSpec v;
  v.source = path;
  v.kind = VocabKind::Spm;
  v.byte_level = false;
  v.escape_spaces = true;
  v.byte_fallback = true;
  v.add_space_prefix = true;
  v.add_bos = true;
  size_t off = 4;
  while (off < data.size()) {
    if (data.size() - off < 8)
      return Status::errorf("{}: truncated at byte {} (token {})", path, off, v.tokens.size());
    float score;
    std::memcpy(&score, data.data() + off, 4);
    const auto len = static_cast<int32_t>(rd32(off + 4));
    off += 8;
    if (len < 0 || len > max_len || static_cast<size_t>(len) > data.size() - off)
      return Status::errorf("{}: token {} has length {} (max_token_length {}, {} bytes left)", path,
                            v.tokens.size(), len, max_len, data.size() - off);
    std::string text = data.substr(off, static_cast<size_t>(len));
    off += static_cast<size_t>(len);
    const size_t id = v.tokens.size();
    TokenType type = TokenType::Normal;
    if (text == "\n<s>\n" || (id == 1 && text == "<s>")) {
      text = "<s>";
      type = TokenType::Control;
      v.bos_id = static_cast<int32_t>(id);
    } else if (text == "\n</s>\n" || (id == 2 && text == "</s>")) {
      text = "</s>";
      type = TokenType::Control;
      v.eos_id = static_cast<int32_t>(id);
    } else if (text == "<unk>") {
      type = TokenType::Unknown;
      v.unk_id = static_cast<int32_t>(id);
    } else if (text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>') {
      type = TokenType::Byte;
    } else {
      std::string t2;
      t2.reserve(text.size() + 8);
      for (char c : text) {
        if (c == ' ')
          t2 += "\xE2\x96\x81";
        else
          t2 += c;
      }
      text = std::move(t2);
    }
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.types.push_back(type);
  }
  if (v.tokens.empty()) return Status::errorf("{}: no tokens", path);
  if (v.bos_id < 0 && v.tokens.size() > 1) v.bos_id = 1;
  if (v.eos_id < 0 && v.tokens.size() > 2) v.eos_id = 2;
  return v;
}

}  // namespace shardlm
