// Built-in chat formats (see include/shardlm/tokenizer/chat-template.h for each format's
// exact shape and the reference template it reproduces).
#include "shardlm/tokenizer/chat-template.h"

#include <array>
#include <cstdint>
#include <utility>

#include "shardlm/core/log.h"

namespace shardlm {

namespace {

constexpr std::array<std::pair<ChatFormat, std::string_view>, 6> kFormats = {{
    {ChatFormat::chatml, "chatml"},
    {ChatFormat::llama2, "llama2"},
    {ChatFormat::llama3, "llama3"},
    {ChatFormat::mistral, "mistral"},
    {ChatFormat::zephyr, "zephyr"},
    {ChatFormat::phi3, "phi3"},
}};

bool contains(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

// Python's str.isspace() for one code point (what Jinja's trim filter and str.strip() remove).
bool py_is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Decodes the well-formed UTF-8 character starting at s[i]; returns its length, 0 if
// the bytes there are not one (then it is not whitespace).
size_t decode_at(std::string_view s, size_t i, uint32_t& cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t lead = b(i);
  size_t n = 0;
  if (lead < 0x80) { cp = lead; return 1; }
  if ((lead & 0xE0) == 0xC0) { n = 2; cp = lead & 0x1F; }
  else if ((lead & 0xF0) == 0xE0) { n = 3; cp = lead & 0x0F; }
  else if ((lead & 0xF8) == 0xF0) { n = 4; cp = lead & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  return n;
}

// Python's str.strip() with no argument: leading and trailing Unicode whitespace.
std::string_view py_strip(std::string_view s) {
  size_t begin = 0;
  while (begin < s.size()) {
    uint32_t cp = 0;
    const size_t n = decode_at(s, begin, cp);
    if (n == 0 || !py_is_space(cp)) break;
    begin += n;
  }
  size_t end = s.size();
  while (end > begin) {
    size_t start = end - 1;  // back to the lead byte of the last character (at most 3 steps)
    while (start > begin && end - start < 4 && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) --start;
    uint32_t cp = 0;
    if (decode_at(s, start, cp) != end - start || !py_is_space(cp)) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

enum class Role { system, user, assistant, tool };

Result<Role> parse_role(std::string_view r, size_t index) {
  if (r == "system") return Role::system;
  if (r == "user") return Role::user;
  if (r == "assistant") return Role::assistant;
  if (r == "tool") return Role::tool;
  return Status::errorf("messages[{}]: unknown role '{}' (expected system, user, assistant or tool)", index, r);
}

struct Msg {
  Role role;
  std::string_view content;
};

// Checks roles and adds the default system message; the result views `messages`/`opts`.
Result<std::vector<Msg>> prepare(ChatFormat f, const std::vector<ChatMessage>& messages, const ChatRenderOptions& opts) {
  if (messages.empty()) return Status::error("messages: at least one message is required");
  std::vector<Msg> out;
  out.reserve(messages.size() + 1);
  if (!opts.default_system.empty() && messages.front().role != "system")
    out.push_back({Role::system, opts.default_system});
  const bool has_tool = f == ChatFormat::chatml || f == ChatFormat::llama3;
  for (size_t i = 0; i < messages.size(); ++i) {
    auto role = parse_role(messages[i].role, i);
    if (!role) return role.status();
    if (*role == Role::tool && !has_tool)
      return Status::errorf("messages[{}]: the {} chat format has no tool role", i, chat_format_name(f));
    out.push_back({*role, messages[i].content});
  }
  return out;
}

// llama2 / mistral: an optional leading system message, then user/assistant alternating,
// starting with user. Returns the system message (nullptr if none) and where the turns start.
Result<std::pair<const Msg*, size_t>> split_alternating(ChatFormat f, const std::vector<Msg>& m,
                                                        size_t n_added) {
  const size_t first = (m.front().role == Role::system) ? 1 : 0;
  for (size_t i = first; i < m.size(); ++i) {
    const size_t index = i - n_added;  // index in the caller's messages
    if (m[i].role == Role::system)
      return Status::errorf("messages[{}]: the {} chat format allows a system message only first", index,
                            chat_format_name(f));
    const Role want = ((i - first) % 2 == 0) ? Role::user : Role::assistant;
    if (m[i].role != want)
      return Status::errorf("messages[{}]: the {} chat format needs roles alternating user/assistant "
                            "(after an optional first system message); expected {}",
                            index, chat_format_name(f), want == Role::user ? "user" : "assistant");
  }
  if (first == m.size())
    return Status::errorf("messages: the {} chat format needs at least one user message", chat_format_name(f));
  return std::pair<const Msg*, size_t>{first ? &m.front() : nullptr, first};
}

std::string_view role_name(Role r, ChatFormat f) {
  switch (r) {
    case Role::system: return "system";
    case Role::user: return "user";
    case Role::assistant: return "assistant";
    case Role::tool: return f == ChatFormat::llama3 ? "ipython" : "tool";
  }
  return "user";
}

Status need(const std::string& text, const char* what, ChatFormat f) {
  if (!text.empty()) return Status::ok();
  return Status::errorf("the {} chat format needs the vocabulary's {} text ({} is empty)", chat_format_name(f),
                        what, what == std::string_view("BOS") ? "bos_text" : "eos_text");
}

std::string render_chatml(const std::vector<Msg>& m, const ChatRenderOptions& o) {
  std::string s;
  for (const Msg& x : m) {
    s += "<|im_start|>";
    s += role_name(x.role, ChatFormat::chatml);
    s += '\n';
    s += x.content;
    s += "<|im_end|>\n";
  }
  if (o.add_generation_prompt) s += "<|im_start|>assistant\n";
  return s;
}

std::string render_llama3(const std::vector<Msg>& m, const ChatRenderOptions& o) {
  std::string s = o.bos_text;
  for (const Msg& x : m) {
    s += "<|start_header_id|>";
    s += role_name(x.role, ChatFormat::llama3);
    s += "<|end_header_id|>\n\n";
    s += py_strip(x.content);
    s += "<|eot_id|>";
  }
  if (o.add_generation_prompt) s += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return s;
}

std::string render_llama2(const Msg* system, const std::vector<Msg>& m, size_t first, const ChatRenderOptions& o) {
  std::string s;
  for (size_t i = first; i < m.size(); ++i) {
    if (m[i].role == Role::user) {
      std::string content;
      if (i == first && system) {
        content = "<<SYS>>\n";
        content += system->content;
        content += "\n<</SYS>>\n\n";
      }
      content += m[i].content;
      s += o.bos_text;
      s += "[INST] ";
      s += py_strip(content);
      s += " [/INST]";
    } else {
      s += ' ';
      s += py_strip(m[i].content);
      s += ' ';
      s += o.eos_text;
    }
  }
  return s;
}

std::string render_mistral(const Msg* system, const std::vector<Msg>& m, size_t first, const ChatRenderOptions& o) {
  std::string s = o.bos_text;
  for (size_t i = first; i < m.size(); ++i) {
    if (m[i].role == Role::user) {
      s += " [INST] ";
      if (i == first && system) {
        s += system->content;
        s += "\n\n";
      }
      s += m[i].content;
      s += " [/INST]";
    } else {
      s += ' ';
      s += m[i].content;
      s += o.eos_text;
    }
  }
  return s;
}

std::string render_zephyr(const std::vector<Msg>& m, const ChatRenderOptions& o) {
  std::string s;
  for (const Msg& x : m) {
    s += "<|";
    s += role_name(x.role, ChatFormat::zephyr);
    s += "|>\n";
    s += x.content;
    s += o.eos_text;
    s += '\n';
  }
  if (o.add_generation_prompt) s += "<|assistant|>\n";
  return s;
}

std::string render_phi3(const std::vector<Msg>& m, const ChatRenderOptions& o) {
  std::string s;
  for (const Msg& x : m) {
    if (x.role == Role::system && x.content.empty()) continue;
    s += "<|";
    s += role_name(x.role, ChatFormat::phi3);
    s += "|>\n";
    s += x.content;
    s += "<|end|>\n";
  }
  s += o.add_generation_prompt ? std::string_view("<|assistant|>\n") : std::string_view(o.eos_text);
  return s;
}

// Undoes the escapes of a Jinja string literal (\n, \t, \r, \\, \', \"); other
// backslashes are kept as they are.
std::string jinja_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) { out += s[i]; continue; }
    const char c = s[++i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '\\': case '\'': case '"': out += c; break;
      default: out += '\\'; out += c; break;
    }
  }
  return out;
}

}  // namespace

std::string_view chat_format_name(ChatFormat f) {
  for (const auto& [fmt, name] : kFormats)
    if (fmt == f) return name;
  return "chatml";
}

Result<ChatFormat> chat_format_from_name(std::string_view name) {
  std::string valid;
  for (const auto& [fmt, n] : kFormats) {
    if (n == name) return fmt;
    if (!valid.empty()) valid += ", ";
    valid += n;
  }
  return Status::errorf("unknown chat template '{}' (valid: {})", name, valid);
}

ChatFormat detect_chat_format(std::string_view t, bool* recognized) {
  auto result = [&](ChatFormat f, bool ok) {
    if (recognized) *recognized = ok;
    return f;
  };
  if (contains(t, "<|start_header_id|>") && contains(t, "<|end_header_id|>")) return result(ChatFormat::llama3, true);
  if (contains(t, "<|im_start|>")) return result(ChatFormat::chatml, !contains(t, "<|im_sep|>"));
  if (contains(t, "[INST]")) return result(contains(t, "<<SYS>>") ? ChatFormat::llama2 : ChatFormat::mistral, true);
  if (contains(t, "<|user|>") && contains(t, "<|assistant|>")) {
    if (contains(t, "<|end|>")) return result(ChatFormat::phi3, true);
    if (contains(t, "eos_token") || contains(t, "</s>") || contains(t, "<|endoftext|>"))
      return result(ChatFormat::zephyr, true);
  }
  return result(ChatFormat::chatml, false);
}

Result<ChatFormat> select_chat_format(std::string_view override_name, std::string_view jinja_template_text) {
  if (!override_name.empty()) {
    auto f = chat_format_from_name(override_name);
    if (f) LOG_INFO("chat template: {} (from --chat-template)", chat_format_name(*f));
    return f;
  }
  bool recognized = false;
  const ChatFormat f = detect_chat_format(jinja_template_text, &recognized);
  if (recognized)
    LOG_INFO("chat template: {} (detected from the model's template)", chat_format_name(f));
  else if (jinja_template_text.empty())
    LOG_WARN("chat template: the model stores none; using chatml (override with --chat-template)");
  else
    LOG_WARN("chat template: the model's template is not a built-in format; using chatml "
             "(override with --chat-template)");
  return f;
}

std::string chat_template_default_system(std::string_view t) {
  static constexpr std::string_view kOpen = "<|im_start|>system";
  static constexpr std::string_view kClose = "<|im_end|>";
  for (size_t at = t.find(kOpen); at != std::string_view::npos; at = t.find(kOpen, at + 1)) {
    size_t body = at + kOpen.size();
    if (t.substr(body, 2) == "\\n") body += 2;        // the escape inside a Jinja string literal
    else if (t.substr(body, 1) == "\n") body += 1;     // or a real newline (a raw block)
    else continue;
    const size_t end = t.find(kClose, body);
    if (end == std::string_view::npos) break;
    const std::string_view lit = t.substr(body, end - body);
    bool literal = !lit.empty() && lit.find_first_of("{}") == std::string_view::npos;
    for (size_t i = 0; literal && i < lit.size(); ++i) {  // no unescaped quote: one string literal
      if (lit[i] == '\\') ++i;
      else if (lit[i] == '\'' || lit[i] == '"') literal = false;
    }
    if (literal) return jinja_unescape(lit);
  }
  return {};
}

Result<std::string> render_chat(ChatFormat f, const std::vector<ChatMessage>& messages, const ChatRenderOptions& o) {
  auto prepared = prepare(f, messages, o);
  if (!prepared) return prepared.status();
  const std::vector<Msg>& m = *prepared;
  const size_t n_added = m.size() - messages.size();
  const bool any_assistant = [&] {
    for (const Msg& x : m)
      if (x.role == Role::assistant) return true;
    return false;
  }();
  std::string s;
  switch (f) {
    case ChatFormat::chatml:
      s = render_chatml(m, o);
      break;
    case ChatFormat::llama3:
      SHARDLM_TRY(need(o.bos_text, "BOS", f));
      s = render_llama3(m, o);
      break;
    case ChatFormat::llama2:
    case ChatFormat::mistral: {
      auto split = split_alternating(f, m, n_added);
      if (!split) return split.status();
      SHARDLM_TRY(need(o.bos_text, "BOS", f));
      if (any_assistant) SHARDLM_TRY(need(o.eos_text, "EOS", f));
      const auto [system, first] = *split;
      s = f == ChatFormat::llama2 ? render_llama2(system, m, first, o) : render_mistral(system, m, first, o);
      break;
    }
    case ChatFormat::zephyr:
      SHARDLM_TRY(need(o.eos_text, "EOS", f));
      s = render_zephyr(m, o);
      break;
    case ChatFormat::phi3:
      if (!o.add_generation_prompt) SHARDLM_TRY(need(o.eos_text, "EOS", f));
      s = render_phi3(m, o);
      break;
  }
  const bool writes_bos = f == ChatFormat::llama2 || f == ChatFormat::llama3 || f == ChatFormat::mistral;
  if (o.force_bos && !writes_bos) s.insert(0, o.bos_text);
  return s;
}

}  // namespace shardlm
