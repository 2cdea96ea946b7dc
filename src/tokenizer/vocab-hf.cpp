// Hugging Face tokenizer.json (+ tokenizer_config.json, generation_config.json) -> VocabSpec.
//
// Supported: model BPE (merges as "a b" strings or [a, b] pairs; byte_fallback,
// ignore_merges), pre_tokenizer ByteLevel / Split (Isolated) / Digits / Metaspace and
// Sequences of them, normalizer Prepend("▁") + Replace(" ", "▁") (SentencePiece
// expressed as BPE), added_tokens (special -> control, others -> user-defined, with
// lstrip/rstrip), BOS/EOS from tokenizer_config (else the post_processor template).
// Unicode normalizers (NFC, NFKC) are not applied.
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "shardlm/core/log.h"
#include "shardlm/core/regular-file.h"
#include "shardlm/tokenizer/pre-tokenizer.h"
#include "shardlm/tokenizer/vocab.h"

namespace shardlm {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kSpaceMark = "\xE2\x96\x81";  // "▁"

Result<json> read_json(const fs::path& p) {
  auto read = read_regular_file(p.string());
  if (!read) return read.status();
  const std::string& s = read.value();
  json j = json::parse(s, nullptr, false);
  if (j.is_discarded()) return Status::errorf("{}: not valid JSON", p.string());
  return j;
}

std::string regex_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}-/").find(c) != std::string_view::npos) r += '\\';
    r += c;
  }
  return r;
}

// The text of a token field in tokenizer_config.json: "x" or {"content": "x"}.
std::string token_field(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return {};
  const json& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return {};
}

struct HfState {
  VocabSpec& v;
  const std::string& file;
  bool prepend = false;         // normalizer Prepend("▁")
  bool replace_space = false;   // normalizer Replace(" ", "▁")
  bool metaspace = false;       // pre_tokenizer Metaspace
  bool bytelevel_prefix = false;
};

Status parse_normalizer(const json& n, HfState& st) {
  if (n.is_null()) return Status::ok();
  const std::string type = n.value("type", "");
  if (type == "Sequence") {
    for (const json& x : n.value("normalizers", json::array())) SHARDLM_TRY(parse_normalizer(x, st));
  } else if (type == "Prepend") {
    if (n.value("prepend", "") == kSpaceMark)
      st.prepend = true;
    else
      LOG_WARN("{}: normalizer Prepend('{}') not supported; ignored", st.file, n.value("prepend", ""));
  } else if (type == "Replace") {
    const json& pat = n.value("pattern", json::object());
    if (pat.value("String", "") == " " && n.value("content", "") == kSpaceMark)
      st.replace_space = true;
    else
      LOG_WARN("{}: normalizer Replace {} not supported; ignored", st.file, n.dump());
  } else if (type == "NFC" || type == "NFKC" || type == "NFD" || type == "NFKD") {
    LOG_DEBUG("{}: Unicode normalizer {} is not applied", st.file, type);
  } else {
    LOG_WARN("{}: normalizer '{}' not supported; ignored (tokens may differ)", st.file, type);
  }
  return Status::ok();
}

Status parse_pre_tokenizer(const json& p, HfState& st) {
  if (p.is_null()) return Status::ok();
  const std::string type = p.value("type", "");
  VocabSpec& v = st.v;
  if (type == "Sequence") {
    for (const json& x : p.value("pretokenizers", json::array())) SHARDLM_TRY(parse_pre_tokenizer(x, st));
  } else if (type == "ByteLevel") {
    v.byte_level = true;
    if (p.value("add_prefix_space", false)) st.bytelevel_prefix = true;
    if (p.value("use_regex", true)) v.pre_regexes.emplace_back(kGpt2Regex);
  } else if (type == "Split") {
    const json& pat = p.value("pattern", json::object());
    std::string rx;
    if (pat.contains("Regex") && pat["Regex"].is_string())
      rx = pat["Regex"].get<std::string>();
    else if (pat.contains("String") && pat["String"].is_string())
      rx = regex_escape(pat["String"].get<std::string>());
    else
      return Status::errorf("{}: Split pre-tokenizer without a pattern", st.file);
    const std::string behavior = p.value("behavior", "Isolated");
    if (behavior != "Isolated") {
      // Gemma: Split(" ", MergedWithPrevious) after a Replace(" " -> "▁") normalizer never matches.
      if (st.replace_space && pat.contains("String") && pat["String"] == " ") return Status::ok();
      return Status::errorf("{}: Split pre-tokenizer behavior '{}' is not supported (only Isolated)", st.file, behavior);
    }
    if (p.value("invert", false))
      return Status::errorf("{}: inverted Split pre-tokenizer is not supported", st.file);
    v.pre_regexes.push_back(rx);
  } else if (type == "Digits") {
    v.pre_regexes.emplace_back(p.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
  } else if (type == "Metaspace") {
    if (p.value("replacement", kSpaceMark) != kSpaceMark)
      return Status::errorf("{}: Metaspace replacement other than U+2581 is not supported", st.file);
    st.metaspace = true;
    std::string scheme = p.value("prepend_scheme", "");
    if (scheme.empty()) scheme = p.value("add_prefix_space", true) ? "always" : "never";
    v.add_space_prefix = scheme != "never";
    v.space_prefix_always = false;  // HF prepends only when the text does not start with "▁"
    v.space_prefix_after_special = scheme == "always";
    if (p.value("split", true)) v.pre_regexes.emplace_back("[^ ]+| [^ ]*");  // a piece per "▁word"
  } else {
    return Status::errorf("{}: pre-tokenizer '{}' is not supported", st.file, type);
  }
  return Status::ok();
}

// BOS/EOS added by a TemplateProcessing post-processor (possibly inside a Sequence).
void parse_post_processor(const json& p, std::string& bos, std::string& eos) {
  if (!p.is_object()) return;
  const std::string type = p.value("type", "");
  if (type == "Sequence") {
    for (const json& x : p.value("processors", json::array())) parse_post_processor(x, bos, eos);
    return;
  }
  if (type != "TemplateProcessing") return;
  const json& single = p.value("single", json::array());
  if (!single.is_array() || single.empty()) return;
  auto special = [](const json& item) -> std::string {
    if (item.is_object() && item.contains("SpecialToken")) return item["SpecialToken"].value("id", "");
    return {};
  };
  bos = special(single.front());
  if (single.size() > 1) eos = special(single.back());
}

Result<VocabSpec> parse_hf(const json& tj, const json& cfg, const json& gen, const std::string& file) {
  VocabSpec v;
  v.source = file;
  v.kind = VocabKind::Bpe;
  v.byte_level = false;
  v.escape_spaces = false;
  v.add_space_prefix = false;
  v.byte_fallback = false;
  v.add_bos = false;

  if (!tj.is_object() || !tj.contains("model") || !tj["model"].is_object())
    return Status::errorf("{}: no \"model\" object", file);
  const json& model = tj["model"];
  const std::string mtype = model.value("type", model.contains("merges") ? "BPE" : "");
  if (mtype != "BPE")
    return Status::errorf("{}: tokenizer model '{}' is not supported (only BPE)", file, mtype);
  if (!model.contains("vocab") || !model["vocab"].is_object()) return Status::errorf("{}: model.vocab is not an object", file);
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(k) && model[k].is_string() && !model[k].get<std::string>().empty())
      return Status::errorf("{}: BPE {} is not supported", file, k);

  // Vocabulary and added tokens.
  std::map<int64_t, std::string> by_id;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_integer()) return Status::errorf("{}: vocab entry '{}' has no integer id", file, it.key());
    by_id[it.value().get<int64_t>()] = it.key();
  }
  const json added = tj.value("added_tokens", json::array());
  for (const json& a : added) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content"))
      return Status::errorf("{}: malformed added_tokens entry {}", file, a.dump());
  }
  int64_t max_id = -1;
  for (const auto& [id, _] : by_id) max_id = std::max(max_id, id);
  for (const json& a : added) max_id = std::max(max_id, a["id"].get<int64_t>());
  if (max_id < 0) return Status::errorf("{}: empty vocabulary", file);
  if (by_id.begin()->first < 0) return Status::errorf("{}: negative token id", file);
  if (max_id > 16 * 1024 * 1024) return Status::errorf("{}: token id {} is implausible", file, max_id);
  const auto n = static_cast<size_t>(max_id + 1);
  v.tokens.assign(n, std::string());
  v.types.assign(n, TokenType::Normal);
  std::vector<bool> have(n, false);
  for (const auto& [id, text] : by_id) {
    v.tokens[id] = text;
    have[id] = true;
  }
  v.byte_fallback = model.value("byte_fallback", false);
  v.ignore_merges = model.value("ignore_merges", false);
  v.fuse_unk = model.value("fuse_unk", false);
  for (size_t i = 0; i < n; ++i) {
    if (!have[i]) {
      v.tokens[i] = "[PAD" + std::to_string(i) + "]";
      v.types[i] = TokenType::Unused;
    } else if (v.byte_fallback && v.tokens[i].size() == 6 && v.tokens[i].compare(0, 3, "<0x") == 0 && v.tokens[i][5] == '>') {
      v.types[i] = TokenType::Byte;
    }
  }
  std::map<std::string, int32_t> added_ids;
  for (const json& a : added) {
    const auto id = static_cast<int32_t>(a["id"].get<int64_t>());
    if (id < 0) return Status::errorf("{}: negative added token id", file);
    v.tokens[id] = a["content"].get<std::string>();
    v.types[id] = a.value("special", false) ? TokenType::Control : TokenType::UserDefined;
    if (a.value("lstrip", false)) v.lstrip_ids.push_back(id);
    if (a.value("rstrip", false)) v.rstrip_ids.push_back(id);
    added_ids[v.tokens[id]] = id;
  }
  auto id_of = [&](const std::string& text) -> int32_t {
    if (text.empty()) return -1;
    if (auto it = added_ids.find(text); it != added_ids.end()) return it->second;
    for (const auto& [id, t] : by_id)
      if (t == text) return static_cast<int32_t>(id);
    return -1;
  };
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    v.unk_id = id_of(model["unk_token"].get<std::string>());
    if (v.unk_id >= 0) v.types[v.unk_id] = TokenType::Unknown;
  }

  // Merges.
  const json merges = model.value("merges", json::array());
  v.merges.reserve(merges.size());
  for (const json& m : merges) {
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) return Status::errorf("{}: merge '{}' is not two space-separated tokens", file, s);
      v.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      v.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return Status::errorf("{}: malformed merge {}", file, m.dump());
    }
  }

  // Text handling.
  HfState st{v, file};
  SHARDLM_TRY(parse_normalizer(tj.value("normalizer", json()), st));
  SHARDLM_TRY(parse_pre_tokenizer(tj.value("pre_tokenizer", json()), st));
  if (st.replace_space || st.metaspace) v.escape_spaces = true;
  if (st.prepend) {  // Prepend normalizer: unconditional, on every text piece
    v.add_space_prefix = true;
    v.space_prefix_always = true;
    v.space_prefix_after_special = true;
  }
  if (st.bytelevel_prefix) {
    v.add_space_prefix = true;
    v.space_prefix_always = false;
    v.space_prefix_after_special = true;
  }
  if (v.byte_level) {
    v.escape_spaces = false;
    v.byte_fallback = false;
  }
  v.pre = "hf";

  // Special tokens: tokenizer_config.json first, then the post-processor template.
  std::string pp_bos, pp_eos;
  parse_post_processor(tj.value("post_processor", json()), pp_bos, pp_eos);
  const std::string cfg_bos = token_field(cfg, "bos_token"), cfg_eos = token_field(cfg, "eos_token");
  v.bos_id = id_of(cfg_bos.empty() ? pp_bos : cfg_bos);
  v.eos_id = id_of(cfg_eos);
  v.pad_id = id_of(token_field(cfg, "pad_token"));
  if (v.unk_id < 0) v.unk_id = id_of(token_field(cfg, "unk_token"));
  if (cfg.is_object() && cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean())
    v.add_bos = cfg["add_bos_token"].get<bool>();
  else
    v.add_bos = !pp_bos.empty() && id_of(pp_bos) >= 0;
  if (cfg.is_object() && cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean())
    v.add_eos = cfg["add_eos_token"].get<bool>();
  else
    v.add_eos = !pp_eos.empty() && id_of(pp_eos) >= 0;

  if (gen.is_object()) {
    const json e = gen.value("eos_token_id", json());
    if (e.is_number_integer()) v.extra_eog_ids.push_back(e.get<int32_t>());
    if (e.is_array())
      for (const json& x : e)
        if (x.is_number_integer()) v.extra_eog_ids.push_back(x.get<int32_t>());
    if (v.eos_id < 0 && !v.extra_eog_ids.empty()) v.eos_id = v.extra_eog_ids.front();
    const json b = gen.value("bos_token_id", json());
    if (v.bos_id < 0 && b.is_number_integer()) v.bos_id = b.get<int32_t>();
  }
  if (v.bos_id < 0) v.add_bos = false;
  if (v.eos_id < 0) v.add_eos = false;

  if (cfg.is_object() && cfg.contains("chat_template")) {
    const json& ct = cfg["chat_template"];
    if (ct.is_string()) {
      v.chat_template = ct.get<std::string>();
    } else if (ct.is_array()) {  // [{"name": "default", "template": "..."}, ...]
      for (const json& x : ct)
        if (x.is_object() && x.value("name", "") == "default" && x.contains("template") && x["template"].is_string())
          v.chat_template = x["template"].get<std::string>();
    }
  }
  return v;
}

}  // namespace

Result<VocabSpec> vocab_from_hf(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  fs::path dir, tj_path;
  if (fs::is_directory(p, ec)) {
    dir = p;
    tj_path = p / "tokenizer.json";
    if (!fs::exists(tj_path, ec)) return Status::errorf("{}: no tokenizer.json in this directory", path);
  } else {
    tj_path = p;
    dir = p.parent_path();
  }
  auto tj = read_json(tj_path);
  if (!tj) return tj.status();
  json cfg, gen;
  if (fs::exists(dir / "tokenizer_config.json", ec)) {
    auto c = read_json(dir / "tokenizer_config.json");
    if (!c) return c.status();
    cfg = std::move(c.value());
  }
  if (fs::exists(dir / "generation_config.json", ec)) {
    auto g = read_json(dir / "generation_config.json");
    if (g) gen = std::move(g.value());  // optional: a broken one is ignored
  }
  try {
    auto spec = parse_hf(tj.value(), cfg, gen, tj_path.string());
    // transformers reads a chat_template.jinja beside the tokenizer before the config's template.
    // Read like every model file: type checked first, never a blocking open.
    if (spec && fs::exists(dir / "chat_template.jinja", ec)) {
      auto text = read_regular_file((dir / "chat_template.jinja").string());
      if (!text) return text.status();
      spec->chat_template = std::move(text.value());
    }
    return spec;
  } catch (const std::exception& e) {  // a field of an unexpected JSON type
    return Status::errorf("{}: malformed tokenizer: {}", tj_path.string(), e.what());
  }
}

}  // namespace shardlm
