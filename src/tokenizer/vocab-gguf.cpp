// GGUF tokenizer.ggml.* metadata -> VocabSpec (llama.cpp's keys and defaults).
#include <algorithm>
#include <cctype>

#include "shardlm/core/log.h"
#include "shardlm/model/gguf.h"
#include "shardlm/tokenizer/vocab.h"

namespace shardlm {

namespace {

bool contains_any(const std::string& s, std::initializer_list<const char*> subs) {
  for (const char* sub : subs)
    if (s.find(sub) != std::string::npos) return true;
  return false;
}

}  // namespace

Result<VocabSpec> vocab_from_gguf(const GgufFile& g) {
  const std::string& file = g.path();
  VocabSpec v;
  v.source = file;
  auto model = g.get_string("tokenizer.ggml.model");
  if (!model) return Status::errorf("{}: no tokenizer.ggml.model: this GGUF holds no vocabulary", file);

  auto tokens = g.get_string_array("tokenizer.ggml.tokens");
  if (!tokens || tokens->empty())
    return Status::errorf("{}: tokenizer.ggml.tokens is missing or not an array of strings", file);
  const size_t n = tokens->size();
  v.tokens = std::move(*tokens);

  if (g.find("tokenizer.ggml.scores")) {
    auto scores = g.get_float_array("tokenizer.ggml.scores");
    if (!scores || scores->size() != n)
      return Status::errorf("{}: tokenizer.ggml.scores must be {} numbers", file, n);
    v.scores = std::move(*scores);
  }
  if (g.find("tokenizer.ggml.token_type")) {
    auto types = g.get_int_array("tokenizer.ggml.token_type");
    if (!types || types->size() != n)
      return Status::errorf("{}: tokenizer.ggml.token_type must be {} integers", file, n);
    v.types.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = (*types)[i];
      v.types[i] = t >= 0 && t <= 6 ? static_cast<TokenType>(t) : TokenType::Undefined;
    }
  }

  std::string pre = g.get_string("tokenizer.ggml.pre").value_or("");
  if (*model == "llama") {
    v.kind = VocabKind::Spm;
    v.byte_level = false;
    v.escape_spaces = true;
    v.byte_fallback = true;
    v.add_space_prefix = g.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
    v.add_bos = true;
    v.bos_id = 1;
    v.eos_id = 2;
    v.unk_id = 0;
    v.pre = pre.empty() ? "default" : pre;
  } else if (*model == "gpt2") {
    v.kind = VocabKind::Bpe;
    v.byte_level = true;
    v.escape_spaces = false;
    v.byte_fallback = false;
    v.add_space_prefix = false;
    v.use_pre_name = true;
    if (pre.empty()) {
      LOG_WARN("{}: no tokenizer.ggml.pre; using the default BPE pre-tokenizer (tokens may differ from the model's)", file);
      pre = "default";
    }
    v.pre = pre;
    if (contains_any(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3"}) || pre == "tekken") v.ignore_merges = true;
    if (contains_any(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3"}) || pre == "tekken" || pre == "chameleon")
      v.add_bos = true;
    auto merges = g.get_string_array("tokenizer.ggml.merges");
    if (!merges) return Status::errorf("{}: a gpt2 vocabulary needs tokenizer.ggml.merges (array of strings)", file);
    v.merges.reserve(merges->size());
    for (const std::string& m : *merges) {
      const size_t sp = m.find(' ', 1);
      if (sp == std::string::npos) {
        v.merges.emplace_back();  // keeps ranks aligned; never matches
        continue;
      }
      v.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
    }
  } else {
    return Status::errorf("{}: tokenizer model '{}' is not supported (supported: llama, gpt2)", file, *model);
  }

  auto id = [&](const char* key, int32_t& out) {
    auto x = g.get_int(key);
    if (!x) return;
    if (*x >= 0 && static_cast<uint64_t>(*x) < n)
      out = static_cast<int32_t>(*x);
    else if (*x != 0xFFFFFFFFll && *x != -1)
      LOG_WARN("{}: {} = {} is not a token id; ignored", file, key, *x);
  };
  id("tokenizer.ggml.bos_token_id", v.bos_id);
  id("tokenizer.ggml.eos_token_id", v.eos_id);
  id("tokenizer.ggml.unknown_token_id", v.unk_id);
  id("tokenizer.ggml.padding_token_id", v.pad_id);
  id("tokenizer.ggml.eot_token_id", v.eot_id);
  id("tokenizer.ggml.eom_token_id", v.eom_id);
  if (auto b = g.get_bool("tokenizer.ggml.add_bos_token")) v.add_bos = *b;
  if (auto b = g.get_bool("tokenizer.ggml.add_eos_token")) v.add_eos = *b;
  if (v.bos_id < 0) v.add_bos = false;
  v.chat_template = g.get_string("tokenizer.chat_template").value_or("");

  // Per-token strip attributes that llama.cpp sets by model name.
  std::string name = g.get_string("general.name").value_or("");
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  auto find_token = [&](const std::string& text) -> int32_t {
    for (size_t i = 0; i < n; ++i)
      if (v.tokens[i] == text) return static_cast<int32_t>(i);
    return -1;
  };
  if (contains_any(pre, {"jina-v2-de", "jina-v2-es", "jina-v2-code"})) {
    if (int32_t m = find_token("<mask>"); m >= 0) v.lstrip_ids.push_back(m);
  } else if (contains_any(name, {"phi-3", "phi3"}) && !v.types.empty()) {
    const int32_t keep[] = {find_token("<unk>"), find_token("<s>"), find_token("<|endoftext|>")};
    for (size_t i = 0; i < n; ++i) {
      const TokenType t = v.types[i];
      const bool special = t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown;
      const auto ii = static_cast<int32_t>(i);
      if ((special || v.tokens[i] == "</s>") && std::find(std::begin(keep), std::end(keep), ii) == std::end(keep))
        v.rstrip_ids.push_back(ii);
    }
  }
  return v;
}

}  // namespace shardlm
