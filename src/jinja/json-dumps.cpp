// Python's json.dumps for Jinja values (the tojson filter as transformers defines it).
#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "jinja/text-util.h"
#include "shardlm/jinja/value.h"

namespace shardlm::jinja {

namespace {

struct Dumper {
  bool ensure_ascii;
  int indent;  // < 0: none
  bool sort_keys;
  std::string item_sep, key_sep;
  std::string out;

  void string(std::string_view s) {
    out += '"';
    for (uint32_t cp : utf8_decode(s)) {
      switch (cp) {
        case '"': out += "\\\""; continue;
        case '\\': out += "\\\\"; continue;
        case '\n': out += "\\n"; continue;
        case '\r': out += "\\r"; continue;
        case '\t': out += "\\t"; continue;
        case '\b': out += "\\b"; continue;
        case '\f': out += "\\f"; continue;
        default: break;
      }
      char buf[16];
      if (cp < 0x20 || (ensure_ascii && cp >= 0x7f)) {
        if (cp >= 0x10000) {
          const uint32_t v = cp - 0x10000;
          std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
        } else {
          std::snprintf(buf, sizeof buf, "\\u%04x", cp);
        }
        out += buf;
      } else {
        utf8_append(out, cp);
      }
    }
    out += '"';
  }

  void newline(int level) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent) * static_cast<size_t>(level), ' ');
  }

  Status value(const Value& v, int level) {
    switch (v.kind()) {
      case Kind::none: out += "null"; return {};
      case Kind::boolean: out += v.as_bool() ? "true" : "false"; return {};
      case Kind::integer: out += std::to_string(v.as_int()); return {};
      case Kind::floating: {
        const double d = v.as_number();
        out += d != d ? "NaN" : d == 1.0 / 0.0 ? "Infinity" : d == -1.0 / 0.0 ? "-Infinity" : python_float_repr(d);
        return {};
      }
      case Kind::string: string(v.as_string()); return {};
      case Kind::list:
        if (!v.is_iterator()) return list(v.as_list(), level);
        break;
      case Kind::dict:
        if (!v.is_namespace()) return dict(v.as_dict(), level);
        break;
      default: break;
    }
    return v.to_json().status();  // the TypeError message
  }

  Status list(const ValueList& l, int level) {
    if (l.empty()) {
      out += "[]";
      return {};
    }
    out += '[';
    for (size_t i = 0; i < l.size(); ++i) {
      if (i) out += item_sep;
      newline(level + 1);
      SHARDLM_TRY(value(l[i], level + 1));
    }
    newline(level);
    out += ']';
    return {};
  }

  Status dict(const ValueDict& d, int level) {
    if (d.empty()) {
      out += "{}";
      return {};
    }
    std::vector<const std::pair<std::string, Value>*> items;
    for (const auto& kv : d) items.push_back(&kv);
    if (sort_keys) std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
    out += '{';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += item_sep;
      newline(level + 1);
      string(items[i]->first);
      out += key_sep;
      SHARDLM_TRY(value(items[i]->second, level + 1));
    }
    newline(level);
    out += '}';
    return {};
  }
};

}  // namespace

Result<std::string> python_json_dumps(const Value& v, bool ensure_ascii, int indent, bool sort_keys,
                                      const std::string* item_sep, const std::string* key_sep) {
  Dumper d{ensure_ascii, indent, sort_keys, item_sep ? *item_sep : (indent < 0 ? ", " : ","),
           key_sep ? *key_sep : ": ", {}};
  SHARDLM_TRY(d.value(v, 0));
  return std::move(d.out);
}

}  // namespace shardlm::jinja
