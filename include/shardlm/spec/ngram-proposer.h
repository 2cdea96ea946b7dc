// Prompt-lookup (n-gram) proposals for speculative decoding: the last n tokens of a
// sequence are looked up earlier in it (prompt and generated text), longest n first,
// most recent occurrence first, and the tokens that followed are proposed. No model,
// no state: a pure function of the tokens. Engine thread.
#pragma once
#include <cstdint>
#include <vector>

namespace shardlm {

// Up to k tokens that followed the most recent earlier occurrence of the sequence's last
// n tokens (n from n_max down to n_min); empty when no suffix recurs. tokens: i32 [len].
std::vector<int32_t> ngram_propose(const std::vector<int32_t>& tokens, int n_min, int n_max, int k);

}  // namespace shardlm
