// Pre-tokenizer regexes by name, and their PCRE2 matcher.
//
// The patterns are those of the models' own tokenizer.json files (the Hugging Face
// tokenizers library's behaviour is what the test vectors record). Case-insensitive
// contractions are spelled out ('[sS]) so that no Unicode case folding ('ſ') applies.
// Non-ASCII characters are written as \x{...} escapes.
#include "shardlm/tokenizer/pre-tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "shardlm/core/log.h"
#include "shardlm/tokenizer/utf8.h"

namespace shardlm {

const char* const kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

namespace {

constexpr const char* kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kTekken =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// CJK ideographs U+4E00-9FA5, U+0800-4E00, Hangul U+AC00-D7FF.
constexpr const char* kDeepseekCjk = R"([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
// DeepSeek LLM's letter class: a list of cased-letter (Lu/Ll/Lt) ranges.
constexpr const char* kDeepseekLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF})"
    R"(\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1})"
    R"(\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5})"
    R"(\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A})"
    R"(\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B})"
    R"(\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC})"
    R"(\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107})"
    R"(\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134})"
    R"(\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
    R"(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787})"
    R"(\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A})"
    R"(\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2})"
    R"(\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)";
constexpr const char* kDeepseekPunct =
    R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)";
constexpr const char* kBloom = R"( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{0964}\x{06D4}\x{060C})]+)";

bool is_one_of(const std::string& s, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (s == n) return true;
  return false;
}

}  // namespace

std::vector<std::string> pre_tokenizer_regexes(const std::string& name, bool* known) {
  if (known) *known = true;
  if (is_one_of(name, {"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe"}))
    return {kLlama3};
  if (is_one_of(name, {"qwen2", "stablelm2", "megrez", "deepseek-r1-qwen"})) return {kQwen2};
  if (is_one_of(name, {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es",
                       "jina-v2-de", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais"}))
    return {kGpt2Regex};
  if (is_one_of(name, {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}))
    return {R"(\p{N})", kGpt2Regex};
  if (name == "falcon") return {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2Regex, "[0-9][0-9][0-9]"};
  if (name == "deepseek-llm")
    return {R"([\r\n])", kDeepseekLetters, kDeepseekPunct, R"(\s+$)", kDeepseekCjk, R"(\p{N}+)"};
  if (name == "deepseek-coder") return {R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepseekCjk, R"(\p{N})"};
  if (name == "deepseek-v3")
    return {R"(\p{N}{1,3})", R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)",
            R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"};
  if (is_one_of(name, {"poro-chat", "bloom", "gpt3-finnish"})) return {kBloom};
  if (name == "viking") return {kBloom, R"(\p{N})"};
  if (name == "tekken") return {kTekken};
  if (name == "chameleon")
    return {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", R"(\p{N})",
            R"([\p{P}!-/:-@\[-`{-~])", kGpt2Regex};
  if (known) *known = name == "default";
  // llama.cpp's default for BPE vocabularies with no (or an unknown) pre-tokenizer name.
  return {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2Regex, R"(\p{N}+)", "[0-9][0-9][0-9]"};
}

struct PreTokenizer::Code {
  pcre2_code* re = nullptr;
  ~Code() { pcre2_code_free(re); }
};

PreTokenizer::~PreTokenizer() = default;

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::create(const std::vector<std::string>& regexes) {
  std::unique_ptr<PreTokenizer> p(new PreTokenizer());
  for (const auto& rx : regexes) {
    int err = 0;
    PCRE2_SIZE off = 0;
    auto code = std::make_unique<Code>();
    code->re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rx.data()), rx.size(),
                             PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, nullptr);
    if (!code->re) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(err, buf, sizeof(buf));
      return Status::errorf("pre-tokenizer regex /{}/: {} at offset {}", rx, reinterpret_cast<const char*>(buf),
                            static_cast<size_t>(off));
    }
    (void)pcre2_jit_compile(code->re, PCRE2_JIT_COMPLETE);  // the interpreter still works if JIT is unavailable
    p->codes_.push_back(std::move(code));
  }
  return p;
}

namespace {

// Matching state for one split() call (match data is not shareable across threads).
struct Matcher {
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mctx = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ~Matcher() {
    pcre2_match_data_free(md);
    pcre2_match_context_free(mctx);
    pcre2_jit_stack_free(stack);
  }
  // A bigger JIT stack for pathological inputs (long runs under backtracking).
  bool grow() {
    if (stack) return false;
    mctx = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, nullptr);
    if (!mctx || !stack) return false;
    pcre2_jit_stack_assign(mctx, nullptr, stack);
    return true;
  }
};

void split_one(const pcre2_code* re, Matcher& m, std::string_view piece, std::vector<std::string_view>& out) {
  const auto* subj = reinterpret_cast<PCRE2_SPTR>(piece.data());
  const size_t len = piece.size();
  size_t off = 0, last = 0;
  while (off < len) {
    int rc = pcre2_match(re, subj, len, off, 0, m.md, m.mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && m.grow()) rc = pcre2_match(re, subj, len, off, 0, m.md, m.mctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {  // resource limits: keep the rest as one piece
      LOG_WARN("pre-tokenizer: regex match failed (PCRE2 error {}); keeping {} bytes unsplit", rc, len - off);
      break;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.md);
    const size_t s = ov[0], e = ov[1];
    if (e <= s) {  // empty match: step over one character
      off = s + std::max<size_t>(1, std::min(utf8_seq_len(static_cast<uint8_t>(piece[s < len ? s : len - 1])), len - s));
      continue;
    }
    if (s > last) out.push_back(piece.substr(last, s - last));
    out.push_back(piece.substr(s, e - s));
    last = off = e;
  }
  if (last < len) out.push_back(piece.substr(last));
}

}  // namespace

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> cur, next;
  if (text.empty()) return cur;
  cur.push_back(text);
  for (const auto& code : codes_) {
    Matcher m;
    m.md = pcre2_match_data_create_from_pattern(code->re, nullptr);
    if (!m.md) return cur;  // out of memory: leave unsplit
    next.clear();
    next.reserve(cur.size() * 2);
    for (auto piece : cur) split_one(code->re, m, piece, next);
    cur.swap(next);
  }
  return cur;
}

}  // namespace shardlm
