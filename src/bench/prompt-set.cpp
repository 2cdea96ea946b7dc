#include "shardlm/bench/prompt-set.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace shardlm::bench {

namespace {

// Words a small story model knows; subjects, verbs and objects make sentences.
const char* const kSubjects[] = {"the little girl", "a small dog", "the old man", "Tom", "Lily", "the happy cat",
                                 "a big bird", "the tired farmer", "her brother", "the kind teacher", "a young fox",
                                 "the red ball", "Ben", "Sue", "the baby", "a shy bunny"};
const char* const kVerbs[] = {"saw", "found", "liked", "wanted", "made", "took", "gave", "played with", "looked at",
                              "ran to", "jumped over", "helped", "shared", "lost", "painted", "carried"};
const char* const kObjects[] = {"a shiny stone", "the green tree", "some warm bread", "a blue box", "the big park",
                                "a funny hat", "the quiet river", "an old book", "a yellow kite", "the tall hill",
                                "a soft blanket", "the little boat", "a sweet apple", "the dark cave", "a silver key",
                                "the busy town"};
const char* const kEndings[] = {"and smiled", "in the morning", "after lunch", "with a friend", "all day long",
                                "near the house", "before bed", "under the sun", "because it was fun", "again"};

template <size_t N>
const char* pick(const char* const (&a)[N], uint64_t& st) {
  return a[splitmix64(st) % N];
}

int count_words(const std::string& s) {
  int n = 0;
  bool in = false;
  for (char c : s) {
    const bool sp = c == ' ';
    if (!sp && !in) ++n;
    in = !sp;
  }
  return n;
}

// Uniform integer in [lo, hi].
int uniform(uint64_t& st, int lo, int hi) {
  if (hi <= lo) return lo;
  return lo + static_cast<int>(splitmix64(st) % static_cast<uint64_t>(hi - lo + 1));
}

int words_for(int tokens, double tokens_per_word) {
  return std::max(1, static_cast<int>(std::lround(tokens / std::max(0.1, tokens_per_word))));
}

}  // namespace

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t derive_seed(uint64_t seed, std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  uint64_t st = seed ^ h;
  return splitmix64(st);
}

std::string make_text(uint64_t seed, int words) {
  uint64_t st = seed;
  std::string out;
  int n = 0;
  while (n < words) {
    std::string sentence = std::string(pick(kSubjects, st)) + " " + pick(kVerbs, st) + " " + pick(kObjects, st);
    if (splitmix64(st) % 2) sentence += std::string(" ") + pick(kEndings, st);
    sentence[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(sentence[0])));
    sentence += ".";
    const int w = count_words(sentence);
    if (n + w > words) {  // cut the last sentence to fit
      std::string cut;
      int k = 0;
      size_t i = 0;
      while (i < sentence.size() && k < words - n) {
        const size_t j = sentence.find(' ', i);
        cut += (cut.empty() ? "" : " ") + sentence.substr(i, j == std::string::npos ? std::string::npos : j - i);
        ++k;
        if (j == std::string::npos) break;
        i = j + 1;
      }
      sentence = cut;
    }
    if (!out.empty()) out += " ";
    out += sentence;
    n += count_words(sentence);
  }
  return out;
}

const char* prompt_kind_name(PromptKind k) {
  switch (k) {
    case PromptKind::short_: return "short";
    case PromptKind::long_: return "long";
    case PromptKind::mixed: return "mixed";
    case PromptKind::shared_prefix: return "shared-prefix";
    case PromptKind::repetitive: return "repetitive";
  }
  return "?";
}

Result<PromptKind> parse_prompt_kind(const std::string& s) {
  for (PromptKind k : {PromptKind::short_, PromptKind::long_, PromptKind::mixed, PromptKind::shared_prefix,
                       PromptKind::repetitive})
    if (s == prompt_kind_name(k)) return k;
  return Status::errorf("unknown prompt set '{}' (short, long, mixed, shared-prefix, repetitive)", s);
}

std::vector<Prompt> make_prompt_set(const PromptSetConfig& cfg) {
  std::vector<Prompt> out;
  uint64_t st = derive_seed(cfg.seed, prompt_kind_name(cfg.kind));
  const double tpw = cfg.tokens_per_word;
  std::string prefix;
  if (cfg.kind == PromptKind::shared_prefix) prefix = make_text(splitmix64(st), words_for(cfg.prefix_tokens, tpw));
  for (int i = 0; i < cfg.count; ++i) {
    Prompt p;
    const uint64_t text_seed = splitmix64(st);
    switch (cfg.kind) {
      case PromptKind::short_:
        p.target_tokens = uniform(st, cfg.short_min, cfg.short_max);
        break;
      case PromptKind::long_:
        p.target_tokens = uniform(st, cfg.long_min, cfg.long_max);
        break;
      case PromptKind::mixed:
        p.target_tokens = splitmix64(st) % 3 == 0 ? uniform(st, cfg.long_min, cfg.long_max)
                                                   : uniform(st, cfg.short_min, cfg.short_max);
        break;
      case PromptKind::shared_prefix:
        p.target_tokens = cfg.prefix_tokens + uniform(st, cfg.short_min, cfg.short_max);
        break;
      case PromptKind::repetitive:
        p.target_tokens = uniform(st, cfg.short_max, std::max(cfg.short_max, cfg.long_min));
        break;
    }
    if (cfg.kind == PromptKind::shared_prefix) {
      // The suffix starts with a number so prompts differ right after the prefix.
      p.text = prefix + " Story " + std::to_string(i + 1) + ". " +
               make_text(text_seed, words_for(p.target_tokens - cfg.prefix_tokens, tpw));
    } else if (cfg.kind == PromptKind::repetitive) {
      const std::string phrase = make_text(text_seed, uniform(st, 6, 12));
      const int words = words_for(p.target_tokens, tpw);
      while (count_words(p.text) < words) p.text += (p.text.empty() ? "" : " ") + phrase;
    } else {
      p.text = make_text(text_seed, words_for(p.target_tokens, tpw));
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace shardlm::bench
