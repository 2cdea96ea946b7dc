// Jinja lexer: data and tags, then expression tokens inside tags.
#include "jinja/lexer.h"

#include <cstring>

#include "jinja/text-util.h"

namespace shardlm::jinja {

namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

Status syntax_error(const std::string& what, int line) {
  return Status::error("TemplateSyntaxError: " + what + " (line " + std::to_string(line) + ")");
}

class Lexer {
 public:
  Lexer(std::string_view src, const LexOptions& o) : s_(src), o_(o) {}

  Result<std::vector<Token>> run() {
    while (pos_ < s_.size()) {
      size_t start = find_tag(pos_);
      if (start == std::string_view::npos) {
        emit_text(std::string(s_.substr(pos_)));
        pos_ = s_.size();
        break;
      }
      SHARDLM_TRY(tag(start));
    }
    out_.push_back({Tok::eof, "", 0, 0, line_});
    return std::move(out_);
  }

 private:
  std::string_view s_;
  LexOptions o_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> out_;

  size_t find_tag(size_t from) const {
    for (size_t i = from; i + 1 < s_.size(); ++i)
      if (s_[i] == '{' && (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#')) return i;
    return std::string_view::npos;
  }

  void count_lines(std::string_view t) {
    for (char c : t) line_ += c == '\n';
  }

  void emit_text(std::string t) {
    count_lines(t);
    if (!t.empty()) out_.push_back({Tok::text, std::move(t), 0, 0, line_});
  }

  // The data before a tag, with the tag's left whitespace control applied.
  void text_before(size_t start, char kind, char sign) {
    std::string t(s_.substr(pos_, start - pos_));
    if (sign == '-') {
      size_t e = t.size();
      while (e > 0 && is_ws(t[e - 1])) --e;
      count_lines(std::string_view(t).substr(e));
      t.resize(e);
    } else if (sign != '+' && o_.lstrip_blocks && kind != '{') {
      const size_t nl = t.rfind('\n');
      const size_t lpos = nl == std::string::npos ? 0 : nl + 1;
      if ((lpos > 0 || line_starting_) && lpos < t.size()) {
        bool all_ws = true;
        for (size_t i = lpos; i < t.size(); ++i) all_ws = all_ws && is_ws(t[i]);
        if (all_ws) t.resize(lpos);
      }
    }
    emit_text(std::move(t));
  }

  // After a tag's end delimiter: its right whitespace control. `dash`: "-%}" form.
  void after_end(bool dash, bool plus, bool block_like) {
    const size_t before = pos_;
    if (dash) {
      while (pos_ < s_.size() && is_ws(s_[pos_])) ++pos_;
    } else if (!plus && block_like && o_.trim_blocks && pos_ < s_.size() && s_[pos_] == '\n') {
      ++pos_;
    }
    count_lines(s_.substr(before, pos_ - before));
    line_starting_ = pos_ > before ? s_[pos_ - 1] == '\n' : false;
  }

  Status tag(size_t start) {
    const char kind = s_[start + 1];
    const char sign = start + 2 < s_.size() && (s_[start + 2] == '-' || s_[start + 2] == '+') ? s_[start + 2] : 0;
    text_before(start, kind, sign);
    pos_ = start + 2 + (sign ? 1 : 0);
    if (kind == '#') return comment();
    out_.push_back({kind == '{' ? Tok::var_begin : Tok::block_begin, "", 0, 0, line_});
    return expression(kind == '{' ? '}' : '%');
  }

  Status comment() {
    const size_t e = s_.find("#}", pos_);
    if (e == std::string_view::npos) return syntax_error("missing end of comment tag", line_);
    const bool dash = e > pos_ && s_[e - 1] == '-';
    const bool plus = e > pos_ && s_[e - 1] == '+';
    count_lines(s_.substr(pos_, e - pos_));
    pos_ = e + 2;
    after_end(dash, plus, true);
    return {};
  }

  // Expression tokens up to the end delimiter ("}}" or "%}"), outside brackets.
  Status expression(char end) {
    int depth = 0;
    while (true) {
      while (pos_ < s_.size() && is_ws(s_[pos_])) line_ += s_[pos_++] == '\n';
      if (pos_ >= s_.size()) return syntax_error(end == '}' ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'", line_);
      if (depth == 0) {
        const char c = s_[pos_];
        const bool ctl = (c == '-' || (c == '+' && end == '%')) && pos_ + 2 < s_.size() && s_[pos_ + 1] == end &&
                         s_[pos_ + 2] == '}';
        if (ctl || (c == end && pos_ + 1 < s_.size() && s_[pos_ + 1] == '}')) {
          pos_ += ctl ? 3 : 2;
          out_.push_back({end == '}' ? Tok::var_end : Tok::block_end, "", 0, 0, line_});
          after_end(ctl && c == '-', ctl && c == '+', end == '%');
          return {};
        }
      }
      SHARDLM_TRY(token(depth));
    }
  }

  Status token(int& depth) {
    const char c = s_[pos_];
    if (is_name_start(c)) {
      size_t b = pos_;
      while (pos_ < s_.size() && is_name_char(s_[pos_])) ++pos_;
      out_.push_back({Tok::name, std::string(s_.substr(b, pos_ - b)), 0, 0, line_});
      return {};
    }
    if (is_digit(c)) return number();
    if (c == '"' || c == '\'') return string(c);
    static const char* two[] = {"**", "//", "==", "!=", ">=", "<="};
    for (const char* t : two)
      if (s_.compare(pos_, 2, t) == 0) {
        out_.push_back({Tok::op, t, 0, 0, line_});
        pos_ += 2;
        return {};
      }
    if (std::strchr("+-*/%~<>=()[]{}.,:|", c) && c != 0) {
      if (c == '(' || c == '[' || c == '{') ++depth;
      if (c == ')' || c == ']' || c == '}') {
        if (depth == 0) return syntax_error(std::string("unexpected '") + c + "'", line_);
        --depth;
      }
      out_.push_back({Tok::op, std::string(1, c), 0, 0, line_});
      ++pos_;
      return {};
    }
    return syntax_error(std::string("unexpected char '") + c + "'", line_);
  }

  Status number() {
    size_t b = pos_;
    auto digits = [&] {
      while (pos_ < s_.size() && (is_digit(s_[pos_]) || s_[pos_] == '_')) ++pos_;
    };
    digits();
    bool is_float = false;
    if (pos_ + 1 < s_.size() && s_[pos_] == '.' && is_digit(s_[pos_ + 1])) {
      is_float = true;
      ++pos_;
      digits();
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
      if (p < s_.size() && is_digit(s_[p])) {
        is_float = true;
        pos_ = p;
        digits();
      }
    }
    std::string t;
    for (char ch : s_.substr(b, pos_ - b))
      if (ch != '_') t += ch;
    Token k{is_float ? Tok::floating : Tok::integer, t, 0, 0, line_};
    if (is_float) k.fval = std::strtod(t.c_str(), nullptr);
    else k.ival = std::strtoll(t.c_str(), nullptr, 10);
    out_.push_back(std::move(k));
    return {};
  }

  Status string(char q) {
    const int line0 = line_;
    std::string v;
    ++pos_;
    while (pos_ < s_.size() && s_[pos_] != q) {
      char c = s_[pos_++];
      line_ += c == '\n';
      if (c != '\\' || pos_ >= s_.size()) {
        v += c;
        continue;
      }
      char e = s_[pos_++];
      switch (e) {
        case 'n': v += '\n'; break;
        case 't': v += '\t'; break;
        case 'r': v += '\r'; break;
        case '0': v += '\0'; break;
        case 'a': v += '\a'; break;
        case 'b': v += '\b'; break;
        case 'f': v += '\f'; break;
        case 'v': v += '\v'; break;
        case '\\': v += '\\'; break;
        case '\'': v += '\''; break;
        case '"': v += '"'; break;
        case '\n': ++line_; break;
        case 'x':
        case 'u':
        case 'U': {
          const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (pos_ + n > s_.size()) return syntax_error("truncated \\" + std::string(1, e) + " escape", line_);
          utf8_append(v, static_cast<uint32_t>(std::strtoul(std::string(s_.substr(pos_, n)).c_str(), nullptr, 16)));
          pos_ += n;
          break;
        }
        default: v += '\\'; v += e; break;
      }
    }
    if (pos_ >= s_.size()) return syntax_error("unexpected end of string", line0);
    ++pos_;
    out_.push_back({Tok::string, std::move(v), 0, 0, line0});
    return {};
  }
};

}  // namespace

Result<std::vector<Token>> lex(std::string_view source, const LexOptions& opts) {
  if (!opts.keep_trailing_newline && !source.empty() && source.back() == '\n') {
    source.remove_suffix(1);
    if (!source.empty() && source.back() == '\r') source.remove_suffix(1);
  }
  return Lexer(source, opts).run();
}

}  // namespace shardlm::jinja
