// Deterministic prompt sets for the benchmarks: the same seed and configuration give
// the same prompt bytes on every machine (own integer RNG, no std distributions).
// Lengths are targets in tokens, turned into words with tokens_per_word, which a
// scenario measures against the server first (usage.prompt_tokens of a probe); the
// real prompt_tokens of every request come from the server's usage.
//
// Kinds: short (short_min..short_max tokens), long (long_min..long_max), mixed (each
// prompt short or long, 1 in 3 long), shared_prefix (one common prefix of prefix_tokens
// followed by a distinct short suffix), repetitive (a short phrase repeated up to a
// short..long length: what n-gram speculation feeds on).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shardlm/core/status.h"

namespace shardlm::bench {

enum class PromptKind { short_, long_, mixed, shared_prefix, repetitive };
const char* prompt_kind_name(PromptKind k);
Result<PromptKind> parse_prompt_kind(const std::string& s);

struct PromptSetConfig {
  PromptKind kind = PromptKind::short_;  // which set (default short)
  int count = 8;                         // number of prompts (default 8)
  uint64_t seed = 42;                    // default 42
  double tokens_per_word = 1.3;          // estimate for words → tokens (default 1.3)
  int short_min = 16, short_max = 64;    // tokens of a short prompt (default 16..64)
  int long_min = 500, long_max = 1000;   // tokens of a long prompt (default 500..1000)
  int prefix_tokens = 256;               // shared_prefix: common prefix (default 256)
};

struct Prompt {
  std::string text;       // the prompt
  int target_tokens = 0;  // length it was made for (an estimate; usage has the truth)
};

std::vector<Prompt> make_prompt_set(const PromptSetConfig& cfg);
// Text of about `words` words from a seeded generator (sentences of a story vocabulary).
std::string make_text(uint64_t seed, int words);
// A sub-seed: seed mixed with a name (FNV-1a of the name, then splitmix64).
uint64_t derive_seed(uint64_t seed, std::string_view name);
// splitmix64 step: advances state, returns the next 64-bit value.
uint64_t splitmix64(uint64_t& state);

}  // namespace shardlm::bench
