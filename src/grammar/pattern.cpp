// Pattern: PCRE2 partial matching of a string value's prefix (see pattern.h), and the
// supported formats as patterns.
#include "grammar/pattern.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <map>

namespace shardlm::grammar {
namespace {

// Per-thread match data and context (one pair of offsets is all a verdict needs; a
// match with more groups still reports success with rc 0).
struct ThreadMatch {
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* ctx = nullptr;
  ThreadMatch() {
    ctx = pcre2_match_context_create(nullptr);
    pcre2_set_match_limit(ctx, kMatchLimit);
    pcre2_set_depth_limit(ctx, kMatchLimit);
  }
  ~ThreadMatch() {
    pcre2_match_data_free(md);
    pcre2_match_context_free(ctx);
  }
};

ThreadMatch& thread_match() {
  thread_local ThreadMatch m;
  return m;
}

// Dates: any year but 0000 (as Python's date), days per month, 29 February in leap years.
#define SHARDLM_YEAR "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
#define SHARDLM_LEAP "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
#define SHARDLM_MONTH_DAY \
  "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
#define SHARDLM_DATE "(?:" SHARDLM_YEAR "-" SHARDLM_MONTH_DAY "|" SHARDLM_LEAP "-02-29)"
// RFC 3339 full-time, upper-case Z, no leap second, at most 6 fraction digits.
#define SHARDLM_TIME \
  "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
#define SHARDLM_ATOM "[A-Za-z0-9_%+-]{1,24}"
#define SHARDLM_LABEL "[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?"
#define SHARDLM_OCTET "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"

const std::map<std::string, const char*>& formats() {
  static const std::map<std::string, const char*> f = {
      {"date", "^" SHARDLM_DATE "$"},
      {"time", "^" SHARDLM_TIME "$"},
      {"date-time", "^" SHARDLM_DATE "T" SHARDLM_TIME "$"},
      {"uuid", "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"},
      // A practical subset of RFC 5322 addr-spec, short enough to end inside kMaxPatternBytes:
      // 1-4 dot-separated atoms of 1-24 of [A-Za-z0-9_%+-], '@', 2-4 DNS labels of 1-32.
      {"email", "^" SHARDLM_ATOM "(?:\\." SHARDLM_ATOM "){0,3}@" SHARDLM_LABEL "(?:\\." SHARDLM_LABEL "){1,3}$"},
      {"ipv4", "^(?:" SHARDLM_OCTET "\\.){3}" SHARDLM_OCTET "$"},
  };
  return f;
}

// Conservative: false whenever an item might match a non-ASCII character.
bool ascii_only_source(const std::string& src) {
  for (size_t i = 0; i < src.size(); ++i) {
    const auto c = static_cast<unsigned char>(src[i]);
    if (c >= 0x80 || c == '.') return false;
    if (c == '[' && i + 1 < src.size() && src[i + 1] == '^') return false;
    if (c == '(' && i + 1 < src.size() && src[i + 1] == '?' && (i + 2 >= src.size() || src[i + 2] != ':')) return false;
    if (c == '\\') {
      if (i + 1 >= src.size()) return false;
      const char e = src[++i];
      const bool word = (e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9');
      if (word && std::string("dwsbBtnrf").find(e) == std::string::npos) return false;  // \D \W \S \p \x \u ...
    }
  }
  return true;
}

}  // namespace

const char* format_pattern(const std::string& format) {
  auto it = formats().find(format);
  return it == formats().end() ? nullptr : it->second;
}

Result<std::shared_ptr<const Pattern>> Pattern::compile(const std::string& source) {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                 PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX, &err, &off, nullptr);
  if (!re) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    return Status::errorf("pattern {} does not compile: {} (at offset {})", source, reinterpret_cast<const char*>(buf), off);
  }
  uint32_t opts = 0;
  pcre2_pattern_info(re, PCRE2_INFO_ALLOPTIONS, &opts);
  (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE | PCRE2_JIT_PARTIAL_SOFT);  // the interpreter works without JIT
  std::shared_ptr<Pattern> p(new Pattern());
  p->source_ = source;
  p->ascii_only_ = ascii_only_source(source);
  p->anchored_ = (opts & PCRE2_ANCHORED) != 0;
  p->code_ = re;
  return std::shared_ptr<const Pattern>(std::move(p));
}

Pattern::~Pattern() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

Pattern::Verdict Pattern::check(std::string_view text) const {
  if (text.size() > kMaxPatternBytes) return Verdict::Dead;
  ThreadMatch& m = thread_match();
  // The grammar passes only whole UTF-8 characters (never a surrogate): no UTF check.
  // Unanchored: a search, so any text can still be followed by a match (Partial).
  const uint32_t opts = PCRE2_NO_UTF_CHECK | (anchored_ ? PCRE2_PARTIAL_SOFT : 0);
  const int rc = pcre2_match(static_cast<const pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(text.data()),
                             text.size(), 0, opts, m.md, m.ctx);
  if (rc >= 0) return Verdict::Full;
  if (!anchored_ && rc == PCRE2_ERROR_NOMATCH) return Verdict::Partial;
  if (rc == PCRE2_ERROR_PARTIAL) return Verdict::Partial;
  return Verdict::Dead;  // no match, or a limit reached
}

}  // namespace shardlm::grammar
