// bench-grammar: time of one token mask (grammar/ MaskComputer) per generated token,
// on a real vocabulary, for a few schemas. Prints p50/p90/p99/max in microseconds:
//   cold  - a fresh MaskComputer per walk (the first request with this schema)
//   warm  - one MaskComputer across walks (later requests with the same schema)
//   nocache - MaskComputer::compute on every token (the trie walk alone)
// Walks sample uniformly from the mask (seeded), preferring end/closing tokens after
// 60 tokens so that every walk ends, as tests/test-grammar-mask.cpp does.
//   bench-grammar [--tokenizer FILE] [--walks N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "shardlm/grammar/token-mask.h"
#include "shardlm/tokenizer/tokenizer.h"

namespace g = shardlm::grammar;

namespace {

const char* kSchemas[][2] = {
    {"json_object", R"({"type":"json_object"})"},
    {"person", R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"},"maxItems":3}},"required":["name","age"]})"},
    {"weather-tool", R"({"type":"object","properties":{"weather":{"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["celsius","fahrenheit"]},"days":{"type":"number"}},"required":["city","unit"]},"ok":{"type":"boolean"},"note":{"type":["string","null"]}},"required":["weather","ok"]})"},
    {"anyOf", R"({"anyOf":[{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":4},{"type":"object","properties":{"k":{"const":"v"}},"required":["k"]},{"type":"null"}]})"},
    // pattern, formats, integer bounds, a length bound (issue 16 point 3's tool-schema keywords).
    {"bounded-tool", R"({"type":"object","properties":{"id":{"type":"string","format":"uuid"},"when":{"type":"string","format":"date"},"code":{"type":"string","pattern":"^[A-Z]{2}-[0-9]{3,5}$"},"qty":{"type":"integer","minimum":1,"maximum":500},"note":{"type":"string","maxLength":24}},"required":["id","when","code","qty"]})"},
};

enum class Mode { Cold, Warm, NoCache };

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

void run(const std::shared_ptr<const g::TokenTrie>& trie, const char* name, const char* schema, Mode mode, int walks) {
  auto gr = g::compile(nlohmann::json::parse(schema));
  if (!gr) { std::printf("%s: %s\n", name, gr.message().c_str()); return; }
  std::mt19937 rng(1600);
  std::vector<double> us;
  auto mc = std::make_unique<g::MaskComputer>(trie);
  g::TokenMask fresh;
  size_t misses = 0;
  for (int w = 0; w < walks; ++w) {
    if (mode == Mode::Cold) { misses += mc->misses(); mc = std::make_unique<g::MaskComputer>(trie); }
    g::GrammarState st(*gr);
    for (int step = 0; step < 4000; ++step) {
      const auto t0 = std::chrono::steady_clock::now();
      const g::TokenMask* m = &fresh;
      if (mode == Mode::NoCache) mc->compute(st, fresh);
      else m = &mc->mask(st);
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      std::vector<int32_t> ids, ends, closers;
      for (int32_t id = 0; id < trie->n_vocab(); ++id) {
        if (!g::mask_allows(*m, id)) continue;
        ids.push_back(id);
        if (std::binary_search(trie->eog().begin(), trie->eog().end(), id)) ends.push_back(id);
        else if (trie->piece(id).find_first_of("\"]}") != std::string::npos) closers.push_back(id);
      }
      if (ids.empty()) break;
      const std::vector<int32_t>& pick = step < 60 ? ids : !ends.empty() ? ends : (!closers.empty() && rng() % 4) ? closers : ids;
      const int32_t id = pick[rng() % pick.size()];
      if (std::binary_search(trie->eog().begin(), trie->eog().end(), id) || !mc->accept(st, id)) break;
    }
  }
  misses += mc->misses();
  const char* mode_name = mode == Mode::Cold ? "cold" : mode == Mode::Warm ? "warm" : "nocache";
  std::printf("%-13s %-8s tokens %6zu  misses %5zu  p50 %7.1f  p90 %7.1f  p99 %7.1f  max %8.1f us\n", name, mode_name,
              us.size(), mode == Mode::NoCache ? us.size() : misses, pct(us, 0.5), pct(us, 0.9), pct(us, 0.99), pct(us, 1.0));
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = "../shared/models/llama2-tokenizer/tokenizer.bin";
  int walks = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--tokenizer")) path = argv[i + 1];
    else if (!std::strcmp(argv[i], "--walks")) walks = std::atoi(argv[i + 1]);
  }
  auto tok = shardlm::load_tokenizer(path);
  if (!tok) { std::fprintf(stderr, "bench-grammar: %s\n", tok.message().c_str()); return 1; }
  const auto t0 = std::chrono::steady_clock::now();
  auto trie = g::TokenTrie::build(**tok);
  std::printf("vocabulary %s: %d tokens, trie %zu nodes, built in %.1f ms; %d walks per schema\n", path.c_str(),
              trie->n_vocab(), trie->nodes().size(),
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(), walks);
  for (const auto& s : kSchemas)
    for (Mode m : {Mode::Cold, Mode::Warm, Mode::NoCache}) run(trie, s[0], s[1], m, walks);
  return 0;
}
