#include "shardlm/bench/prom-text.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

namespace shardlm::bench {

namespace {

bool name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

std::string escape_label(const std::string& v) {
  std::string o;
  for (char c : v) {
    if (c == '\\') o += "\\\\";
    else if (c == '"') o += "\\\"";
    else if (c == '\n') o += "\\n";
    else o += c;
  }
  return o;
}

bool parse_value(std::string_view s, double& out) {
  if (s == "+Inf" || s == "Inf") { out = std::numeric_limits<double>::infinity(); return true; }
  if (s == "-Inf") { out = -std::numeric_limits<double>::infinity(); return true; }
  if (s == "NaN") { out = std::numeric_limits<double>::quiet_NaN(); return true; }
  std::string t(s);
  if (t.empty()) return false;
  char* end = nullptr;
  out = std::strtod(t.c_str(), &end);
  return end && *end == '\0';
}

// One sample line; false when malformed.
bool parse_sample(std::string_view line, std::string& name, std::map<std::string, std::string>& labels, double& value) {
  size_t i = 0;
  while (i < line.size() && name_char(line[i], i == 0)) ++i;
  if (i == 0) return false;
  name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    for (;;) {
      while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
      if (i < line.size() && line[i] == '}') { ++i; break; }
      const size_t a = i;
      while (i < line.size() && name_char(line[i], i == a)) ++i;
      if (i == a || i >= line.size() || line[i] != '=') return false;
      std::string key(line.substr(a, i - a));
      ++i;
      if (i >= line.size() || line[i] != '"') return false;
      ++i;
      std::string val;
      for (;;) {
        if (i >= line.size()) return false;
        const char c = line[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i >= line.size()) return false;
          const char e = line[i++];
          val += e == 'n' ? '\n' : e;
        } else {
          val += c;
        }
      }
      labels[key] = val;
    }
  }
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  const size_t a = i;
  while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
  if (!parse_value(line.substr(a, i - a), value)) return false;
  // An optional integer timestamp may follow; it is ignored.
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  if (i < line.size()) {
    const std::string ts(line.substr(i));
    char* end = nullptr;
    (void)std::strtoll(ts.c_str(), &end, 10);
    if (!end || *end != '\0') return false;
  }
  return true;
}

}  // namespace

std::string prom_series_key(const std::string& name, const std::map<std::string, std::string>& labels) {
  if (labels.empty()) return name;
  std::string k = name + "{";
  bool first = true;
  for (const auto& [l, v] : labels) {
    if (!first) k += ",";
    first = false;
    k += l + "=\"" + escape_label(v) + "\"";
  }
  return k + "}";
}

Result<PromSnapshot> parse_prom_text(std::string_view text) {
  PromSnapshot s;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty()) continue;
    if (line.front() == '#') {
      // "# TYPE name type"; other comments and HELP are skipped.
      if (line.substr(0, 7) == "# TYPE ") {
        std::string_view rest = line.substr(7);
        const size_t sp = rest.find(' ');
        if (sp == std::string_view::npos) return Status::errorf("metrics line {}: TYPE without a type", line_no);
        s.types[std::string(rest.substr(0, sp))] = std::string(rest.substr(sp + 1));
      }
      continue;
    }
    std::string name;
    std::map<std::string, std::string> labels;
    double v = 0;
    if (!parse_sample(line, name, labels, v))
      return Status::errorf("metrics line {}: cannot parse '{}'", line_no, std::string(line.substr(0, 120)));
    s.values[prom_series_key(name, labels)] = v;
  }
  return s;
}

std::string prom_type_of(const PromSnapshot& s, const std::string& series_name) {
  auto it = s.types.find(series_name);
  if (it != s.types.end()) return it->second;
  for (const char* suf : {"_bucket", "_sum", "_count", "_total", "_created"}) {
    const std::string sf(suf);
    if (series_name.size() > sf.size() && series_name.compare(series_name.size() - sf.size(), sf.size(), sf) == 0) {
      it = s.types.find(series_name.substr(0, series_name.size() - sf.size()));
      if (it != s.types.end()) return it->second;
    }
  }
  return "untyped";
}

nlohmann::json prom_delta(const PromSnapshot& before, const PromSnapshot& after) {
  nlohmann::json counters = nlohmann::json::object(), gauges = nlohmann::json::object();
  for (const auto& [key, a] : after.values) {
    const std::string name = key.substr(0, key.find('{'));
    const std::string type = prom_type_of(after, name);
    auto it = before.values.find(key);
    const bool had = it != before.values.end();
    if (type == "gauge" || type == "untyped") {
      gauges[key] = {{"before", had ? nlohmann::json(it->second) : nlohmann::json(nullptr)}, {"after", a}};
    } else {
      const double d = a - (had ? it->second : 0.0);
      counters[key] = std::isfinite(d) ? nlohmann::json(d) : nlohmann::json(nullptr);
    }
  }
  return {{"counters", counters}, {"gauges", gauges}};
}

}  // namespace shardlm::bench
