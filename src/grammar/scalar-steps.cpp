// Scalar frames one byte at a time (see scalar-steps.h).
#include "grammar/scalar-steps.h"

#include <algorithm>

namespace shardlm::grammar {
namespace {

constexpr uint32_t kIntDigits = 15, kFracDigits = 15, kExpDigits = 3;
constexpr uint32_t kHighPending = 1u << 16;  // Frame::unit: the last character was a high surrogate escape

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
uint32_t hex_value(uint8_t c) { return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }
bool is_surrogate(uint32_t u) { return u >= 0xD800 && u <= 0xDFFF; }
bool is_low_surrogate(uint32_t u) { return u >= 0xDC00 && u <= 0xDFFF; }

void append_utf8(std::string& s, uint32_t u) {  // u < 0x10000, not a surrogate
  if (u < 0x80) {
    s.push_back(static_cast<char>(u));
  } else if (u < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (u >> 6)));
    s.push_back(static_cast<char>(0x80 | (u & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xE0 | (u >> 12)));
    s.push_back(static_cast<char>(0x80 | ((u >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (u & 0x3F)));
  }
}

bool all_viable(const Grammar& g, const Node& n, const std::string& text) {
  for (uint32_t p : n.patterns)
    if (!g.patterns[p]->viable(text)) return false;
  return true;
}

bool all_full(const Grammar& g, const Node& n, const std::string& text) {
  for (uint32_t p : n.patterns)
    if (!g.patterns[p]->full(text)) return false;
  return true;
}

bool all_ascii_only(const Grammar& g, const Node& n) {
  return std::all_of(n.patterns.begin(), n.patterns.end(), [&](uint32_t p) { return g.patterns[p]->ascii_only(); });
}

// text ends inside a UTF-8 character that needs `rest` more bytes, the next in [lo, hi]:
// does one of its completions (next byte b, the others 0x80) keep the value viable?
bool some_utf8_completion(const Grammar& g, const Node& n, const std::string& text, uint8_t rest, uint8_t lo,
                          uint8_t hi) {
  std::string cand = text;
  cand.push_back('\0');
  cand.append(rest - 1u, '\x80');
  if (all_ascii_only(g, n)) hi = lo;  // every non-ASCII character fares alike: one decides
  for (uint32_t b = lo; b <= hi; ++b) {
    cand[text.size()] = static_cast<char>(b);
    if (all_viable(g, n, cand)) return true;
  }
  return false;
}

// A \u escape with `digits` hex digits of value v so far: does one of the characters it
// can still become keep the value viable? Tried: the first of each next digit's range
// (the rest 0) and every printable ASCII and Latin-1 character in range; surrogates never.
// (Each candidate tried at one digit is tried again at the next, so a prefix let through
// always has one way on.)
bool some_unit_completion(const Grammar& g, const Node& n, const std::string& text, uint32_t v, uint32_t digits) {
  const uint32_t span = 1u << (4 * (4 - digits)), base = v << (4 * (4 - digits));
  const bool ascii = all_ascii_only(g, n);  // then one non-ASCII candidate stands for all
  bool non_ascii_tried = false;
  std::string cand;
  auto viable = [&](uint32_t u) {
    if (is_surrogate(u)) return false;
    if (u >= 0x80 && ascii) {
      if (non_ascii_tried) return false;
      non_ascii_tried = true;
    }
    cand = text;
    append_utf8(cand, u);
    return all_viable(g, n, cand);
  };
  for (uint32_t d = 0; d < 16; ++d)
    if (viable(base + d * (span / 16))) return true;
  for (uint32_t u = std::max(base, 0x20u); u < std::min(base + span, 0x100u); ++u)
    if ((u < 0x7F || u >= 0xA0) && viable(u)) return true;
  return false;
}

bool some_escape_viable(const Grammar& g, const Node& n, const std::string& text) {
  for (char d : std::string("\"\\/\b\f\n\r\t"))
    if (all_viable(g, n, text + d)) return true;
  return some_unit_completion(g, n, text, 0, 0);
}

void count_char(const Node& n, Frame& f) {
  if (!n.counts_length()) return;
  f.unit &= ~kHighPending;
  f.len = std::min(f.len + 1, n.len_cap());
}

Step escape_step(const Grammar& g, const Node& n, Frame& f, std::string& text, uint8_t c) {
  if (c == 'u') {
    if (!n.patterns.empty() && !some_unit_completion(g, n, text, 0, 0)) return Step::Rejected;
    f.phase = 3;
    f.pos = 0;
    f.unit &= kHighPending;
    return Step::Consumed;
  }
  char d = 0;
  switch (c) {
    case '"': d = '"'; break;
    case '\\': d = '\\'; break;
    case '/': d = '/'; break;
    case 'b': d = '\b'; break;
    case 'f': d = '\f'; break;
    case 'n': d = '\n'; break;
    case 'r': d = '\r'; break;
    case 't': d = '\t'; break;
    default: return Step::Rejected;
  }
  if (n.counts_length() && f.len >= n.max_len) return Step::Rejected;  // only a low surrogate fits
  if (!n.patterns.empty()) {
    text.push_back(d);
    if (!all_viable(g, n, text)) return Step::Rejected;
  }
  count_char(n, f);
  f.phase = 1;
  return Step::Consumed;
}

Step hex_step(const Grammar& g, const Node& n, Frame& f, std::string& text, uint8_t c) {
  if (!is_hex(c)) return Step::Rejected;
  const bool track = n.counts_length() || !n.patterns.empty();
  if (!track) {  // plain strings: only the digit count is state
    if (++f.pos == 4) { f.phase = 1; f.pos = 0; }
    return Step::Consumed;
  }
  const uint32_t v = ((f.unit & 0xFFFF) << 4) | hex_value(c);
  const bool high_pending = (f.unit & kHighPending) != 0;
  ++f.pos;
  if (n.counts_length() && f.len >= n.max_len) {  // full: only the low half of a pair may follow
    const uint32_t lo = v << (4 * (4 - f.pos)), hi = lo + (1u << (4 * (4 - f.pos))) - 1;
    if (!high_pending || hi < 0xDC00 || lo > 0xDFFF) return Step::Rejected;
  }
  if (!n.patterns.empty()) {
    if (f.pos < 4 && !some_unit_completion(g, n, text, v, f.pos)) return Step::Rejected;
    if (f.pos == 4) {
      if (is_surrogate(v)) return Step::Rejected;
      append_utf8(text, v);
      if (!all_viable(g, n, text)) return Step::Rejected;
    }
  }
  if (f.pos < 4) {
    f.unit = (f.unit & kHighPending) | v;
    return Step::Consumed;
  }
  f.phase = 1;
  f.pos = 0;
  if (high_pending && is_low_surrogate(v)) {
    f.unit = 0;  // the second half of a pair: one character with the first
    return Step::Consumed;
  }
  if (n.counts_length() && f.len >= n.max_len) return Step::Rejected;
  count_char(n, f);
  f.unit = (v >= 0xD800 && v <= 0xDBFF && n.counts_length()) ? kHighPending : 0;
  return Step::Consumed;
}

}  // namespace

Step utf8_byte(Frame& f, uint8_t c) {
  if (f.utf8 > 0) {
    if (c < f.lo || c > f.hi) return Step::Rejected;
    --f.utf8;
    f.lo = 0x80;
    f.hi = 0xBF;
    return Step::Consumed;
  }
  if (c < 0x20) return Step::Rejected;
  if (c < 0x80) return Step::Consumed;
  f.lo = 0x80;
  f.hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) f.utf8 = 1;
  else if (c == 0xE0) { f.utf8 = 2; f.lo = 0xA0; }
  else if (c == 0xED) { f.utf8 = 2; f.hi = 0x9F; }
  else if (c >= 0xE1 && c <= 0xEF) f.utf8 = 2;
  else if (c == 0xF0) { f.utf8 = 3; f.lo = 0x90; }
  else if (c >= 0xF1 && c <= 0xF3) f.utf8 = 3;
  else if (c == 0xF4) { f.utf8 = 3; f.hi = 0x8F; }
  else return Step::Rejected;
  return Step::Consumed;
}

Step string_step(const Grammar& g, const Node& n, Frame& f, std::string& text, uint8_t c, bool& pop) {
  switch (f.phase) {
    case 0:
      if (c != '"') return Step::Rejected;
      f.phase = 1;
      return Step::Consumed;
    case 2: return escape_step(g, n, f, text, c);
    case 3: return hex_step(g, n, f, text, c);
    default: break;
  }
  const bool pat = !n.patterns.empty();
  if (f.utf8 > 0) {  // a continuation byte
    if (utf8_byte(f, c) != Step::Consumed) return Step::Rejected;
    if (pat) {
      text.push_back(static_cast<char>(c));
      const bool ok = f.utf8 == 0 ? all_viable(g, n, text) : some_utf8_completion(g, n, text, f.utf8, f.lo, f.hi);
      if (!ok) return Step::Rejected;
    }
    return Step::Consumed;
  }
  if (c == '"') {
    if (n.counts_length() && f.len < n.min_len) return Step::Rejected;
    if (pat && !all_full(g, n, text)) return Step::Rejected;
    pop = true;
    return Step::Consumed;
  }
  const bool full = n.counts_length() && f.len >= n.max_len;
  if (c == '\\') {
    if (full && !(f.unit & kHighPending)) return Step::Rejected;
    if (pat && !some_escape_viable(g, n, text)) return Step::Rejected;
    f.phase = 2;
    return Step::Consumed;
  }
  if (full) return Step::Rejected;
  if (utf8_byte(f, c) != Step::Consumed) return Step::Rejected;
  if (pat) {
    text.push_back(static_cast<char>(c));
    const bool ok = f.utf8 == 0 ? all_viable(g, n, text) : some_utf8_completion(g, n, text, f.utf8, f.lo, f.hi);
    if (!ok) return Step::Rejected;
  }
  count_char(n, f);
  return Step::Consumed;
}

bool number_can_end(const Frame& f) { return f.phase == 2 || f.phase == 3 || f.phase == 5 || f.phase == 8; }

Step number_step(Frame& f, uint8_t c, bool integer) {
  auto digit_in = [&](uint8_t next_phase, uint32_t cap) {
    if (f.phase != next_phase) f.pos = 0;
    if (f.pos >= cap) return Step::Rejected;
    f.phase = next_phase; ++f.pos;
    return Step::Consumed;
  };
  switch (f.phase) {
    case 0:
      if (c == '-') { f.phase = 1; return Step::Consumed; }
      [[fallthrough]];
    case 1:
      if (c == '0') { f.phase = 2; return Step::Consumed; }
      if (is_digit(c)) return digit_in(3, kIntDigits);
      return Step::Rejected;
    case 2: case 3:
      if (f.phase == 3 && is_digit(c)) return digit_in(3, kIntDigits);
      if (!integer && c == '.') { f.phase = 4; return Step::Consumed; }
      if (!integer && (c == 'e' || c == 'E')) { f.phase = 6; return Step::Consumed; }
      return Step::Retry;
    case 4: return is_digit(c) ? digit_in(5, kFracDigits) : Step::Rejected;
    case 5:
      if (is_digit(c)) return digit_in(5, kFracDigits);
      if (c == 'e' || c == 'E') { f.phase = 6; return Step::Consumed; }
      return Step::Retry;
    case 6:
      if (c == '+' || c == '-') { f.phase = 7; return Step::Consumed; }
      [[fallthrough]];
    case 7: return is_digit(c) ? digit_in(8, kExpDigits) : Step::Rejected;
    case 8: return is_digit(c) ? digit_in(8, kExpDigits) : Step::Retry;
    default: return Step::Rejected;
  }
}

namespace {

// The magnitudes that keep a value of this sign inside the bounds: [a, b], or none.
struct Magnitudes { bool any = false; int64_t a = 0, b = 0; };

Magnitudes magnitudes(const Node& n, bool negative) {
  if (!negative) return n.hi < 0 ? Magnitudes{} : Magnitudes{true, std::max<int64_t>(n.lo, 0), n.hi};
  return n.lo > 0 ? Magnitudes{} : Magnitudes{true, std::max<int64_t>(-n.hi, 0), -n.lo};
}

// Digits m (no leading zero, k of them) can end as m·10^j + r (0 <= r < 10^j, k + j <= 15):
// does one of those magnitudes lie in [r.a, r.b]?
bool reachable(int64_t m, uint32_t k, const Magnitudes& r) {
  int64_t p = 1;
  for (uint32_t j = 0; k + j <= kIntDigits; ++j, p *= 10) {
    const int64_t lo = m * p, hi = (m + 1) * p - 1;
    if (lo > r.b) return false;
    if (hi >= r.a) return true;
  }
  return false;
}

}  // namespace

Step bounded_integer_step(const Node& n, Frame& f, uint8_t c) {
  switch (f.phase) {
    case 0:
      if (c == '-') {
        if (!magnitudes(n, true).any) return Step::Rejected;
        f.phase = 1;
        f.unit = 1;
        return Step::Consumed;
      }
      [[fallthrough]];
    case 1: {
      const Magnitudes r = magnitudes(n, f.unit == 1);
      if (!r.any || !is_digit(c)) return Step::Rejected;
      if (c == '0') {
        if (r.a > 0) return Step::Rejected;
        f.phase = 2;
        f.seen = 0;
        return Step::Consumed;
      }
      if (!reachable(c - '0', 1, r)) return Step::Rejected;
      f.phase = 3;
      f.pos = 1;
      f.seen = c - '0';
      return Step::Consumed;
    }
    case 2: return Step::Retry;  // "0" / "-0": 0 is inside (it was let through)
    case 3: {
      const Magnitudes r = magnitudes(n, f.unit == 1);
      const auto m = static_cast<int64_t>(f.seen);
      if (!is_digit(c)) return m >= r.a && m <= r.b ? Step::Retry : Step::Rejected;
      if (f.pos >= kIntDigits) return Step::Rejected;
      const int64_t next = m * 10 + (c - '0');
      if (!reachable(next, f.pos + 1, r)) return Step::Rejected;
      f.seen = static_cast<uint64_t>(next);
      ++f.pos;
      return Step::Consumed;
    }
    default: return Step::Rejected;
  }
}

bool bounded_integer_can_end(const Node& n, const Frame& f) {
  if (f.phase == 2) return true;
  if (f.phase != 3) return false;
  const Magnitudes r = magnitudes(n, f.unit == 1);
  const auto m = static_cast<int64_t>(f.seen);
  return r.any && m >= r.a && m <= r.b;
}

}  // namespace shardlm::grammar
