#include "model/model-maker-vocab.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "shardlm/core/log.h"
#include "shardlm/core/regular-file.h"
#include "shardlm/model/gguf-writer.h"

namespace shardlm {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

const char* kSpace = "\xE2\x96\x81";  // ▁ U+2581

// Pre-tokenizer regexes of the byte-level families (as in their tokenizer.json).
const char* kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

Result<std::string> read_text(const std::string& path) { return read_regular_file(path); }

Result<nlohmann::json> read_json(const std::string& path) {
  auto t = read_text(path);
  if (!t) return t.status();
  nlohmann::json j = nlohmann::json::parse(*t, nullptr, false);
  if (j.is_discarded()) return Status::errorf("{}: invalid JSON", path);
  return j;
}

bool is_byte_token(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return false;
  return std::isxdigit(static_cast<unsigned char>(t[3])) && std::isxdigit(static_cast<unsigned char>(t[4]));
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  size_t p = 0;
  while ((p = s.find(from, p)) != std::string::npos) {
    s.replace(p, from.size(), to);
    p += to.size();
  }
  return s;
}

int64_t find_token(const MakerVocab& v, const std::string& text) {
  for (size_t i = 0; i < v.tokens.size(); ++i)
    if (v.tokens[i] == text) return static_cast<int64_t>(i);
  return -1;
}

// ---- GGUF --------------------------------------------------------------------------

Result<MakerVocab> load_gguf(const std::string& path) {
  auto r = GgufFile::open(path);
  if (!r) return r.status();
  const GgufFile& f = **r;
  MakerVocab v;
  v.source = path;
  v.kind = "gguf";
  for (const auto& [k, val] : f.metadata())
    if (k.rfind("tokenizer.", 0) == 0) v.gguf_kv.emplace_back(k, val);
  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (!tokens || tokens->empty()) return Status::errorf("{}: no tokenizer.ggml.tokens (not a GGUF with a vocabulary)", path);
  v.tokens = std::move(*tokens);
  v.model = f.get_string("tokenizer.ggml.model").value_or("llama");
  v.pre = f.get_string("tokenizer.ggml.pre").value_or("default");
  if (auto s = f.get_float_array("tokenizer.ggml.scores"); s && s->size() == v.tokens.size()) v.scores = *s;
  if (auto t = f.get_int_array("tokenizer.ggml.token_type"); t && t->size() == v.tokens.size()) {
    for (int64_t x : *t) v.types.push_back(static_cast<int32_t>(x));
  } else {
    v.types.assign(v.tokens.size(), kTokNormal);
  }
  if (auto m = f.get_string_array("tokenizer.ggml.merges")) v.merges = *m;
  const int64_t n = static_cast<int64_t>(v.tokens.size());
  auto id = [&](const char* key) -> int64_t {
    auto x = f.get_int(key);
    return x && *x >= 0 && *x < n ? *x : -1;
  };
  v.bos = id("tokenizer.ggml.bos_token_id");
  v.eos = id("tokenizer.ggml.eos_token_id");
  v.unk = id("tokenizer.ggml.unknown_token_id");
  v.pad = id("tokenizer.ggml.padding_token_id");
  if (auto b = f.get_bool("tokenizer.ggml.add_bos_token")) v.add_bos = *b;
  if (auto b = f.get_bool("tokenizer.ggml.add_eos_token")) v.add_eos = *b;
  v.chat_template = f.get_string("tokenizer.chat_template").value_or("");
  if (v.model != "llama" && v.model != "gpt2")
    LOG_WARN("{}: tokenizer model '{}' is copied as it is (only 'llama' and 'gpt2' convert to Hugging Face files)",
             path, v.model);
  return v;
}

// ---- llama2.c tokenizer.bin ---------------------------------------------------------

Result<MakerVocab> load_llama2c(const std::string& path) {
  auto t = read_text(path);
  if (!t) return t.status();
  const std::string& b = *t;
  size_t p = 0;
  auto bad = [&]() { return Status::errorf("{}: not a GGUF, tokenizer.json or llama2.c tokenizer .bin", path); };
  int32_t max_len;
  if (b.size() < 4) return bad();
  std::memcpy(&max_len, b.data(), 4);
  p = 4;
  if (max_len <= 0 || max_len > 4096) return bad();
  MakerVocab v;
  v.source = path;
  v.kind = "llama2c";
  v.model = "llama";
  while (p < b.size()) {
    float score;
    int32_t len;
    if (b.size() - p < 8) return bad();
    std::memcpy(&score, b.data() + p, 4);
    std::memcpy(&len, b.data() + p + 4, 4);
    p += 8;
    if (len < 0 || len > max_len || static_cast<size_t>(len) > b.size() - p) return bad();
    std::string text = b.substr(p, static_cast<size_t>(len));
    p += static_cast<size_t>(len);
    const size_t id = v.tokens.size();
    // llama2.c conventions (as llama.cpp's convert-llama2c-to-ggml reads them): ids 0..2
    // are <unk>, <s>, </s>; pieces store spaces where SentencePiece has ▁.
    int32_t type = kTokNormal;
    if (id == 0) {
      text = "<unk>";
      type = kTokUnknown;
    } else if (id == 1) {
      text = "<s>";
      type = kTokControl;
    } else if (id == 2) {
      text = "</s>";
      type = kTokControl;
    } else if (text.empty()) {
      type = kTokControl;
    } else if (is_byte_token(text)) {
      type = kTokByte;
    }
    v.tokens.push_back(replace_all(text, " ", kSpace));
    v.scores.push_back(score);
    v.types.push_back(type);
  }
  if (v.tokens.size() < 3) return bad();
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  v.add_bos = true;
  v.add_eos = false;
  return v;
}

// ---- Hugging Face tokenizer.json --------------------------------------------------

std::string special_content(const nlohmann::json& cfg, const char* key) {
  if (!cfg.is_object() || !cfg.contains(key)) return "";
  const auto& x = cfg[key];
  if (x.is_string()) return x.get<std::string>();
  if (x.is_object() && x.contains("content") && x["content"].is_string()) return x["content"].get<std::string>();
  return "";
}

// j[key] by reference (a null value when absent): collect() keeps pointers into it.
const nlohmann::json& member(const nlohmann::json& j, const char* key) {
  static const nlohmann::json null_value;
  if (!j.is_object()) return null_value;
  auto it = j.find(key);
  return it == j.end() ? null_value : *it;
}

// Every object of `type` inside a (possibly Sequence) pre-tokenizer / decoder / normalizer.
void collect(const nlohmann::json& j, const std::string& type, std::vector<const nlohmann::json*>& out) {
  if (!j.is_object()) return;
  if (j.contains("type") && j["type"] == type) out.push_back(&j);
  for (const char* sub : {"pretokenizers", "decoders", "normalizers", "processors"})
    if (j.contains(sub) && j[sub].is_array())
      for (const auto& e : j[sub]) collect(e, type, out);
}

Result<MakerVocab> load_hf(const std::string& tokenizer_json) {
  auto jr = read_json(tokenizer_json);
  if (!jr) return jr.status();
  const nlohmann::json& j = *jr;
  const std::string dir = fs::path(tokenizer_json).parent_path().string();
  auto bad = [&](const std::string& what) { return Status::errorf("{}: {}", tokenizer_json, what); };
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) return bad("no 'model' object");
  const nlohmann::json& m = j["model"];
  if (m.value("type", std::string()) != "BPE")
    return bad(fmt::format("tokenizer model '{}' is not supported (BPE only)", m.value("type", std::string("?"))));
  if (!m.contains("vocab") || !m["vocab"].is_object()) return bad("model.vocab is not an object");

  MakerVocab v;
  v.source = tokenizer_json;
  v.kind = "hf";
  v.hf_tokenizer_json = tokenizer_json;
  if (fs::exists(dir + "/tokenizer_config.json")) v.hf_tokenizer_config = dir + "/tokenizer_config.json";
  if (fs::exists(dir + "/special_tokens_map.json")) v.hf_special_tokens_map = dir + "/special_tokens_map.json";

  // ids: model vocab plus added tokens
  struct Added {
    std::string content;
    bool special;
  };
  std::unordered_map<int64_t, std::string> by_id;
  std::unordered_map<int64_t, Added> added;
  int64_t max_id = -1;
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
    if (!it.value().is_number_integer()) return bad("model.vocab values must be integers");
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || id > (1 << 24)) return bad(fmt::format("token id {} out of range", id));
    by_id[id] = it.key();
    max_id = std::max(max_id, id);
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const auto& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string())
        return bad("malformed added_tokens entry");
      const int64_t id = a["id"].get<int64_t>();
      if (id < 0 || id > (1 << 24)) return bad(fmt::format("token id {} out of range", id));
      added[id] = {a["content"].get<std::string>(), a.value("special", false)};
      by_id[id] = a["content"].get<std::string>();
      max_id = std::max(max_id, id);
    }
  }
  if (max_id < 0) return bad("empty vocabulary");

  // family
  std::vector<const nlohmann::json*> bl;
  collect(member(j, "pre_tokenizer"), "ByteLevel", bl);
  collect(member(j, "decoder"), "ByteLevel", bl);
  const bool byte_fallback = m.value("byte_fallback", false);
  std::vector<const nlohmann::json*> repl;
  collect(member(j, "normalizer"), "Replace", repl);
  if (!bl.empty()) {
    v.model = "gpt2";
  } else if (byte_fallback || !repl.empty()) {
    v.model = "llama";
  } else {
    return bad("unsupported tokenizer: neither byte-level BPE nor SentencePiece-style BPE (byte_fallback)");
  }

  const std::string unk_text = m.contains("unk_token") && m["unk_token"].is_string() ? m["unk_token"].get<std::string>() : "";
  const size_t n = static_cast<size_t>(max_id + 1);
  v.tokens.resize(n);
  v.types.assign(n, kTokNormal);
  for (size_t i = 0; i < n; ++i) {
    auto it = by_id.find(static_cast<int64_t>(i));
    if (it == by_id.end()) {
      v.tokens[i] = fmt::format("[PAD{}]", i);
      v.types[i] = kTokUnused;
      continue;
    }
    v.tokens[i] = it->second;
    auto a = added.find(static_cast<int64_t>(i));
    if (a != added.end()) v.types[i] = a->second.special ? kTokControl : kTokUser;
    else if (v.model == "llama" && is_byte_token(it->second)) v.types[i] = kTokByte;
    if (!unk_text.empty() && it->second == unk_text) {
      v.types[i] = kTokUnknown;
      v.unk = static_cast<int64_t>(i);
    }
  }

  // merges: "a b" strings or ["a", "b"] pairs
  if (m.contains("merges") && !m["merges"].is_array() && !m["merges"].is_null()) return bad("model.merges is not an array");
  if (m.contains("merges") && m["merges"].is_array()) {
    for (const auto& x : m["merges"]) {
      if (x.is_string()) v.merges.push_back(x.get<std::string>());
      else if (x.is_array() && x.size() == 2 && x[0].is_string() && x[1].is_string())
        v.merges.push_back(x[0].get<std::string>() + " " + x[1].get<std::string>());
      else return bad("malformed merges entry");
    }
  }

  if (v.model == "llama") {
    // SentencePiece-style: scores from merge priority (the token a merge of rank r
    // makes scores -r), so llama.cpp's score-driven SPM merges follow the HF merges.
    std::unordered_map<std::string, size_t> id_of;
    for (size_t i = 0; i < n; ++i) id_of.emplace(v.tokens[i], i);
    v.scores.assign(n, 0.0f);
    std::vector<bool> set(n, false);
    for (size_t r = 0; r < v.merges.size(); ++r) {
      const std::string& mg = v.merges[r];
      const size_t sp = mg.find(' ');
      if (sp == std::string::npos) continue;
      auto it = id_of.find(mg.substr(0, sp) + mg.substr(sp + 1));
      if (it == id_of.end() || set[it->second]) continue;
      set[it->second] = true;
      v.scores[it->second] = -static_cast<float>(r);
    }
    for (size_t i = 0; i < n; ++i) {
      if (set[i] || v.types[i] != kTokNormal) continue;
      size_t chars = 0;
      for (unsigned char c : v.tokens[i]) chars += (c & 0xC0) != 0x80;
      if (chars > 1) v.scores[i] = -1e9f;  // never made by a merge: merge last
    }
  } else {
    // pre-tokenizer name for llama.cpp
    std::vector<const nlohmann::json*> splits, digits;
    collect(member(j, "pre_tokenizer"), "Split", splits);
    collect(member(j, "pre_tokenizer"), "Digits", digits);
    std::string regex;
    for (const auto* s : splits)
      if (s->contains("pattern") && (*s)["pattern"].is_object() && (*s)["pattern"].contains("Regex") &&
          (*s)["pattern"]["Regex"].is_string())
        regex = (*s)["pattern"]["Regex"].get<std::string>();
    if (regex == kLlama3Regex) v.pre = "llama-bpe";
    else if (regex == kQwen2Regex) v.pre = "qwen2";
    else if (regex.empty() && !digits.empty()) v.pre = "smollm";
    else if (regex.empty()) v.pre = "gpt-2";
    else {
      v.pre = "default";
      LOG_WARN("{}: unrecognized pre-tokenizer regex; GGUF tokenizer.ggml.pre = 'default'", tokenizer_json);
    }
  }

  // special tokens and flags: tokenizer_config.json, then config.json, then the post-processor
  nlohmann::json cfg;
  if (!v.hf_tokenizer_config.empty()) {
    auto c = read_json(v.hf_tokenizer_config);
    if (!c) return c.status();
    cfg = *c;
  }
  auto tok_id = [&](const std::string& text) { return text.empty() ? int64_t{-1} : find_token(v, text); };
  v.bos = tok_id(special_content(cfg, "bos_token"));
  v.eos = tok_id(special_content(cfg, "eos_token"));
  v.pad = tok_id(special_content(cfg, "pad_token"));
  if (cfg.is_object()) {
    if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean()) v.add_bos = cfg["add_bos_token"].get<bool>();
    if (cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean()) v.add_eos = cfg["add_eos_token"].get<bool>();
    if (cfg.contains("chat_template")) {
      const auto& ct = cfg["chat_template"];
      if (ct.is_string()) {
        v.chat_template = ct.get<std::string>();
      } else if (ct.is_array()) {
        for (const auto& e : ct)
          if (e.is_object() && e.value("name", std::string()) == "default" && e.contains("template") &&
              e["template"].is_string())
            v.chat_template = e["template"].get<std::string>();
      }
    }
  }
  if (fs::exists(dir + "/config.json")) {
    auto c = read_json(dir + "/config.json");
    if (c && c->is_object()) {
      auto cid = [&](const char* k) -> int64_t {
        if (!c->contains(k) || !(*c)[k].is_number_integer()) return -1;
        const int64_t x = (*c)[k].get<int64_t>();
        return x >= 0 && x < static_cast<int64_t>(n) ? x : -1;
      };
      if (v.bos < 0) v.bos = cid("bos_token_id");
      if (v.eos < 0) v.eos = cid("eos_token_id");
    }
  }
  std::vector<const nlohmann::json*> tmpl;
  collect(member(j, "post_processor"), "TemplateProcessing", tmpl);
  if (!tmpl.empty() && (*tmpl[0]).contains("single") && (*tmpl[0])["single"].is_array()) {
    const auto& single = (*tmpl[0])["single"];
    const bool starts_special = !single.empty() && single[0].is_object() && single[0].contains("SpecialToken");
    if (!v.add_bos) v.add_bos = starts_special;
    if (starts_special && v.bos < 0 && single[0]["SpecialToken"].contains("id") &&
        single[0]["SpecialToken"]["id"].is_string())
      v.bos = find_token(v, single[0]["SpecialToken"]["id"].get<std::string>());
  }
  if (v.model == "llama") {
    if (v.bos < 0) v.bos = find_token(v, "<s>");
    if (v.eos < 0) v.eos = find_token(v, "</s>");
    if (!v.add_bos) v.add_bos = true;
  }
  return v;
}

// ---- writing HF files ----------------------------------------------------------------

ojson added_token_json(const MakerVocab& v, size_t id) {
  ojson a;
  a["id"] = id;
  a["content"] = v.tokens[id];
  a["single_word"] = false;
  a["lstrip"] = false;
  a["rstrip"] = false;
  a["normalized"] = false;
  a["special"] = v.types[id] != kTokUser;
  return a;
}

ojson template_processing(const MakerVocab& v) {
  const std::string& b = v.tokens[static_cast<size_t>(v.bos)];
  ojson single = ojson::array({{{"SpecialToken", {{"id", b}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}});
  ojson pair = single;
  pair.push_back({{"SpecialToken", {{"id", b}, {"type_id", 1}}}});
  pair.push_back({{"Sequence", {{"id", "B"}, {"type_id", 1}}}});
  ojson t;
  t["type"] = "TemplateProcessing";
  t["single"] = single;
  t["pair"] = pair;
  t["special_tokens"] = {{b, {{"id", b}, {"ids", {v.bos}}, {"tokens", {b}}}}};
  return t;
}

Status write_string(const std::string& path, const std::string& s) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return Status::errorf("{}: cannot create", path);
  const bool ok = std::fwrite(s.data(), 1, s.size(), f) == s.size();
  if (std::fclose(f) != 0 || !ok) return Status::errorf("{}: write failed", path);
  return Status::ok();
}

std::string dump(const ojson& j) { return j.dump(2, ' ', false, ojson::error_handler_t::replace) + "\n"; }

Status generate_hf(const MakerVocab& v, const std::string& dir, int n_ctx) {
  const bool spm = v.model == "llama";
  if (!spm && v.model != "gpt2")
    return Status::errorf("{}: tokenizer model '{}' cannot be written as Hugging Face files", v.source, v.model);
  const bool add_bos = v.add_bos.value_or(spm) && v.bos >= 0;
  ojson tj;
  tj["version"] = "1.0";
  tj["truncation"] = nullptr;
  tj["padding"] = nullptr;
  ojson added = ojson::array();
  for (size_t i = 0; i < v.tokens.size(); ++i)
    if (v.types[i] == kTokControl || v.types[i] == kTokUnknown || v.types[i] == kTokUser)
      added.push_back(added_token_json(v, i));
  tj["added_tokens"] = added;
  if (spm) {
    tj["normalizer"] = {{"type", "Sequence"},
                        {"normalizers", ojson::array({{{"type", "Prepend"}, {"prepend", kSpace}},
                                                      {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}}})}};
    tj["pre_tokenizer"] = nullptr;
    tj["post_processor"] = add_bos ? template_processing(v) : ojson(nullptr);
    tj["decoder"] = {{"type", "Sequence"},
                     {"decoders", ojson::array({{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                                                {{"type", "ByteFallback"}},
                                                {{"type", "Fuse"}},
                                                {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  } else {
    const ojson bytelevel_noregex = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
    const char* regex = v.pre == "llama-bpe" || v.pre == "llama3" ? kLlama3Regex : v.pre == "qwen2" ? kQwen2Regex : nullptr;
    if (regex) {
      tj["normalizer"] = v.pre == "qwen2" ? ojson({{"type", "NFC"}}) : ojson(nullptr);
      tj["pre_tokenizer"] = {{"type", "Sequence"},
                             {"pretokenizers", ojson::array({{{"type", "Split"}, {"pattern", {{"Regex", regex}}},
                                                              {"behavior", "Isolated"}, {"invert", false}},
                                                             bytelevel_noregex})}};
    } else {
      if (v.pre != "gpt-2" && v.pre != "gpt2" && v.pre != "default")
        LOG_WARN("{}: pre-tokenizer '{}' written as GPT-2's byte-level pre-tokenizer", v.source, v.pre);
      tj["normalizer"] = nullptr;
      tj["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    }
    tj["post_processor"] = add_bos ? template_processing(v)
                                   : ojson({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}});
    tj["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  }
  ojson model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = v.unk >= 0 ? ojson(v.tokens[static_cast<size_t>(v.unk)]) : ojson(nullptr);
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = spm;
  model["byte_fallback"] = spm;
  model["ignore_merges"] = false;
  ojson vocab = ojson::object();
  std::unordered_set<std::string> seen;  // (ordered_json lookups are linear)
  for (size_t i = 0; i < v.tokens.size(); ++i)
    if (seen.insert(v.tokens[i]).second) vocab.push_back({v.tokens[i], i});
  model["vocab"] = std::move(vocab);
  model["merges"] = spm && v.merges.empty() ? spm_merges_from_scores(v.tokens, v.scores.empty() ? std::vector<float>(v.tokens.size(), 0.0f) : v.scores)
                                           : v.merges;
  tj["model"] = std::move(model);
  SHARDLM_TRY(write_string(dir + "/tokenizer.json", dump(tj)));

  ojson cfg;
  cfg["add_bos_token"] = add_bos;
  cfg["add_eos_token"] = v.add_eos.value_or(false);
  ojson dec = ojson::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.types[i] != kTokControl && v.types[i] != kTokUnknown && v.types[i] != kTokUser) continue;
    ojson a = added_token_json(v, i);
    a.erase("id");
    dec[std::to_string(i)] = a;
  }
  cfg["added_tokens_decoder"] = dec;
  auto text = [&](int64_t id) { return id >= 0 ? ojson(v.tokens[static_cast<size_t>(id)]) : ojson(nullptr); };
  cfg["bos_token"] = text(v.bos);
  cfg["eos_token"] = text(v.eos);
  cfg["unk_token"] = text(v.unk);
  if (v.pad >= 0) cfg["pad_token"] = text(v.pad);
  if (!v.chat_template.empty()) cfg["chat_template"] = v.chat_template;
  cfg["clean_up_tokenization_spaces"] = false;
  cfg["model_max_length"] = n_ctx;
  cfg["tokenizer_class"] = spm ? "LlamaTokenizerFast" : "PreTrainedTokenizerFast";
  if (spm) cfg["legacy"] = true;
  return write_string(dir + "/tokenizer_config.json", dump(cfg));
}

}  // namespace

std::vector<std::string> spm_merges_from_scores(const std::vector<std::string>& tokens, const std::vector<float>& scores) {
  std::unordered_map<std::string, size_t> id_of;
  for (size_t i = 0; i < tokens.size(); ++i) id_of.emplace(tokens[i], i);
  struct M {
    size_t l, r;
    float score;
  };
  std::vector<M> all;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    std::vector<M> local;
    for (size_t k = 1; k < t.size(); ++k) {
      if ((static_cast<unsigned char>(t[k]) & 0xC0) == 0x80) continue;  // split on characters
      auto l = id_of.find(t.substr(0, k)), r = id_of.find(t.substr(k));
      if (l != id_of.end() && r != id_of.end()) local.push_back({l->second, r->second, scores[i]});
    }
    std::sort(local.begin(), local.end(), [](const M& a, const M& b) { return a.l != b.l ? a.l < b.l : a.r < b.r; });
    all.insert(all.end(), local.begin(), local.end());
  }
  std::stable_sort(all.begin(), all.end(), [](const M& a, const M& b) { return a.score > b.score; });
  std::vector<std::string> out;
  out.reserve(all.size());
  for (const auto& m : all) out.push_back(tokens[m.l] + " " + tokens[m.r]);
  return out;
}

Result<MakerVocab> load_maker_vocab(const std::string& path) {
  try {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      if (!fs::exists(path + "/tokenizer.json"))
        return Status::errorf("{}: a directory without tokenizer.json", path);
      return load_hf(path + "/tokenizer.json");
    }
    if (!fs::exists(path, ec)) return Status::errorf("{}: vocabulary file not found", path);
    char magic[4] = {};
    {
      size_t size = 0;
      auto fd = open_regular_file(path, &size);  // a FIFO or device is refused, never read
      if (!fd) return fd.status();
      if (size >= 4 && ::read(fd.value(), magic, 4) != 4) std::memset(magic, 0, 4);
      ::close(fd.value());
    }
    if (std::memcmp(magic, "GGUF", 4) == 0) return load_gguf(path);
    if (magic[0] == '{' || (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0)) return load_hf(path);
    return load_llama2c(path);
  } catch (const std::exception& e) {
    return Status::errorf("{}: {}", path, e.what());
  }
}

void add_vocab_to_gguf(const MakerVocab& v, GgufWriter& w) {
  if (v.kind == "gguf") {
    for (const auto& [k, val] : v.gguf_kv) w.set(k, val);
    return;
  }
  w.set_string("tokenizer.ggml.model", v.model);
  w.set_string("tokenizer.ggml.pre", v.pre);
  w.set("tokenizer.ggml.tokens", gguf_str_array(v.tokens));
  if (!v.scores.empty()) w.set("tokenizer.ggml.scores", gguf_f32_array(v.scores));
  w.set("tokenizer.ggml.token_type", gguf_i32_array(v.types));
  if (!v.merges.empty()) w.set("tokenizer.ggml.merges", gguf_str_array(v.merges));
  auto id = [&](const char* key, int64_t x) {
    if (x >= 0) w.set_u32(key, static_cast<uint32_t>(x));
  };
  id("tokenizer.ggml.bos_token_id", v.bos);
  id("tokenizer.ggml.eos_token_id", v.eos);
  id("tokenizer.ggml.unknown_token_id", v.unk);
  id("tokenizer.ggml.padding_token_id", v.pad);
  if (v.add_bos) w.set_bool("tokenizer.ggml.add_bos_token", *v.add_bos);
  if (v.add_eos) w.set_bool("tokenizer.ggml.add_eos_token", *v.add_eos);
  if (!v.chat_template.empty()) w.set_string("tokenizer.chat_template", v.chat_template);
}

Status write_vocab_hf(const MakerVocab& v, const std::string& dir, int n_ctx) {
  try {
    if (v.kind != "hf") return generate_hf(v, dir, n_ctx);
    std::error_code ec;
    for (const auto& [from, name] : {std::pair{v.hf_tokenizer_json, "tokenizer.json"},
                                     std::pair{v.hf_tokenizer_config, "tokenizer_config.json"},
                                     std::pair{v.hf_special_tokens_map, "special_tokens_map.json"}}) {
      if (from.empty()) continue;
      fs::copy_file(from, dir + "/" + name, fs::copy_options::overwrite_existing, ec);
      if (ec) return Status::errorf("{}: cannot copy to {}: {}", from, dir, ec.message());
    }
    return Status::ok();
  } catch (const std::exception& e) {
    return Status::errorf("{}: writing tokenizer files: {}", dir, e.what());
  }
}

}  // namespace shardlm
