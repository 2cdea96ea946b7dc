// A code-like source file for local-copilot-burst: deterministic C-like functions
// (names, parameters, loops, calls) from a seed, the shape of what an editor sends as
// the file before the cursor.
#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "scenarios.h"

namespace shardlm::bench {

namespace {

constexpr const char* kNouns[] = {"buffer", "count", "index", "offset", "value", "total", "item", "node", "key",
                                  "entry", "limit", "size", "width", "height", "result", "state", "token", "block"};
constexpr const char* kVerbs[] = {"read", "write", "parse", "load", "store", "find", "update", "merge", "split",
                                  "check", "build", "scan", "flush", "reset"};
constexpr const char* kTypes[] = {"int", "size_t", "double", "uint32_t", "int64_t", "float"};

template <size_t N>
const char* pick(const char* const (&a)[N], uint64_t& rng) {
  return a[splitmix64(rng) % N];
}

// One function of 6..12 lines.
void add_function(std::vector<std::string>& out, uint64_t& rng, int n) {
  const std::string name = fmt::format("{}_{}_{}", pick(kVerbs, rng), pick(kNouns, rng), n);
  const std::string t = pick(kTypes, rng), a = pick(kNouns, rng), b = pick(kNouns, rng);
  out.push_back(fmt::format("static {} {}(const {}* {}, {} {}_len) {{", t, name, t, a, "size_t", b));
  out.push_back(fmt::format("  {} {} = 0;", t, pick(kNouns, rng)));
  out.push_back(fmt::format("  for (size_t i = 0; i < {}_len; ++i) {{", b));
  const int body = 2 + static_cast<int>(splitmix64(rng) % 5);
  for (int k = 0; k < body; ++k) {
    switch (splitmix64(rng) % 3) {
      case 0:
        out.push_back(fmt::format("    if ({}[i] > {}) {} += {}[i];", a, splitmix64(rng) % 100, pick(kNouns, rng), a));
        break;
      case 1:
        out.push_back(fmt::format("    {}_{}(&{}[i], {});", pick(kVerbs, rng), pick(kNouns, rng), a, splitmix64(rng) % 16));
        break;
      default:
        out.push_back(fmt::format("    {} = {} * {} + {};", pick(kNouns, rng), pick(kNouns, rng), splitmix64(rng) % 8 + 1, a + std::string("[i]")));
    }
  }
  out.push_back("  }");
  out.push_back(fmt::format("  return {};", pick(kNouns, rng)));
  out.push_back("}");
  out.push_back("");
}

}  // namespace

std::vector<std::string> make_code_lines(uint64_t seed, int tokens, double tokens_per_char) {
  uint64_t rng = seed;
  std::vector<std::string> out{"#include <stddef.h>", "#include <stdint.h>", ""};
  const double tpc = tokens_per_char > 0 ? tokens_per_char : 0.3;
  size_t chars = 0;
  for (int n = 0; chars * tpc < tokens; ++n) {
    const size_t from = out.size();
    add_function(out, rng, n);
    for (size_t i = from; i < out.size(); ++i) chars += out[i].size() + 1;
  }
  return out;
}

}  // namespace shardlm::bench
