// SentencePiece tokenizer.model (protobuf ModelProto) -> VocabSpec, BPE models only.
//
// Wire format read here (field numbers of sentencepiece_model.proto):
//   ModelProto:      1 pieces (repeated message), 2 trainer_spec, 3 normalizer_spec
//   SentencePiece:   1 piece (string), 2 score (float), 3 type (enum, default NORMAL=1)
//   TrainerSpec:     3 model_type (UNIGRAM=1, BPE=2), 35 byte_fallback, 40 unk_id, 41 bos_id,
//                    42 eos_id, 43 pad_id
//   NormalizerSpec:  3 add_dummy_prefix (default true), 4 remove_extra_whitespaces
// Piece types use the same numbers as GGUF's token types.
#include <cstring>

#include "shardlm/core/log.h"
#include "shardlm/core/regular-file.h"
#include "shardlm/tokenizer/vocab.h"

namespace shardlm {

namespace {

struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;

  bool more() const { return ok && p < end; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) break;
      const uint8_t b = *p++;
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  // Reads a field key; then the caller reads or skips the value.
  bool key(uint32_t& field, uint32_t& wire) {
    const uint64_t k = varint();
    field = static_cast<uint32_t>(k >> 3);
    wire = static_cast<uint32_t>(k & 7);
    return ok;
  }
  Reader sub() {  // a length-delimited value as its own reader
    const uint64_t n = varint();
    if (!ok || n > static_cast<uint64_t>(end - p)) {
      ok = false;
      return Reader{end, end, false};
    }
    Reader r{p, p + n};
    p += n;
    return r;
  }
  uint32_t fixed32() {
    if (end - p < 4) {
      ok = false;
      return 0;
    }
    uint32_t v;
    std::memcpy(&v, p, 4);
    p += 4;
    return v;
  }
  void skip(uint32_t wire) {
    switch (wire) {
      case 0: varint(); break;
      case 1:
        if (end - p < 8) ok = false; else p += 8;
        break;
      case 2: sub(); break;
      case 5: fixed32(); break;
      default: ok = false;
    }
  }
};

}  // namespace

Result<VocabSpec> vocab_from_spm_model(const std::string& path) {
  auto read = read_regular_file(path);
  if (!read) return read.status();
  const std::string& data = read.value();
  const auto* base = reinterpret_cast<const uint8_t*>(data.data());
  Reader r{base, base + data.size()};

  VocabSpec v;
  v.source = path;
  v.kind = VocabKind::Spm;
  v.byte_level = false;
  v.escape_spaces = true;
  v.byte_fallback = true;
  v.add_space_prefix = true;
  v.add_bos = true;
  int64_t model_type = 1, unk = 0, bos = 1, eos = 2, pad = -1;
  bool remove_extra_ws = true;
  while (r.more()) {
    uint32_t field, wire;
    if (!r.key(field, wire)) break;
    if (field == 1 && wire == 2) {
      Reader pr = r.sub();
      std::string piece;
      float score = 0;
      int64_t type = 1;
      while (pr.more()) {
        uint32_t pf, pw;
        if (!pr.key(pf, pw)) break;
        if (pf == 1 && pw == 2) {
          Reader s = pr.sub();
          piece.assign(reinterpret_cast<const char*>(s.p), static_cast<size_t>(s.end - s.p));
        } else if (pf == 2 && pw == 5) {
          const uint32_t bits = pr.fixed32();
          std::memcpy(&score, &bits, 4);
        } else if (pf == 3 && pw == 0) {
          type = static_cast<int64_t>(pr.varint());
        } else {
          pr.skip(pw);
        }
      }
      if (!pr.ok) r.ok = false;
      v.tokens.push_back(std::move(piece));
      v.scores.push_back(score);
      v.types.push_back(type >= 1 && type <= 6 ? static_cast<TokenType>(type) : TokenType::Undefined);
    } else if ((field == 2 || field == 3) && wire == 2) {
      Reader s = r.sub();
      while (s.more()) {
        uint32_t sf, sw;
        if (!s.key(sf, sw)) break;
        if (sw != 0) {
          s.skip(sw);
          continue;
        }
        const auto x = static_cast<int64_t>(static_cast<int32_t>(s.varint()));  // int32 fields, sign-extended
        if (field == 2) {
          if (sf == 3) model_type = x;
          else if (sf == 35) v.byte_fallback = x != 0;
          else if (sf == 40) unk = x;
          else if (sf == 41) bos = x;
          else if (sf == 42) eos = x;
          else if (sf == 43) pad = x;
        } else {
          if (sf == 3) v.add_space_prefix = x != 0;
          else if (sf == 4) remove_extra_ws = x != 0;
        }
      }
      if (!s.ok) r.ok = false;
    } else {
      r.skip(wire);
    }
  }
  if (!r.ok) return Status::errorf("{}: malformed SentencePiece model (protobuf)", path);
  if (v.tokens.empty()) return Status::errorf("{}: no pieces; not a SentencePiece model", path);
  if (model_type != 2)
    return Status::errorf("{}: SentencePiece model type {} is not supported (only BPE = 2)", path, model_type);
  if (remove_extra_ws) LOG_WARN("{}: remove_extra_whitespaces is set but not applied", path);
  const auto n = static_cast<int64_t>(v.tokens.size());
  auto id = [&](int64_t x) { return x >= 0 && x < n ? static_cast<int32_t>(x) : -1; };
  v.unk_id = id(unk);
  v.bos_id = id(bos);
  v.eos_id = id(eos);
  v.pad_id = id(pad);
  if (v.bos_id < 0) v.add_bos = false;
  return v;
}

}  // namespace shardlm
