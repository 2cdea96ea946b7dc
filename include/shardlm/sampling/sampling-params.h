// Per-request sampling parameters. Plain struct (house rule 6): every field documents
// its default. Rank 0 validates them once (validate()) and sends them to every rank in
// the step protocol (protocol/wire.h), so every rank reduces its vocab slice the same way.
//
// Semantics, in this order (as HF transformers / vLLM):
//   1. temperature scales the logits: x = logit / T (T == 0: greedy, nothing else applies);
//   2. top_k keeps the k most likely tokens;
//   3. min_p keeps tokens with p >= min_p * p_max;
//   4. top_p keeps the smallest most-likely prefix whose mass, renormalized over what
//      steps 2-3 kept, reaches top_p;
//   5. one token is drawn from the survivors, renormalized.
// With no filter (top_k 0, top_p 1, min_p 0) the draw is exact over the full vocabulary.
#pragma once
#include <cstdint>

#include "shardlm/core/status.h"

namespace shardlm {

// How the vocab slices are reduced; a function of the parameters (SamplingParams::mode()).
enum class SamplingMode : uint8_t {
  greedy = 0,    // temperature 0: argmax, ties to the lowest token id
  gumbel = 1,    // temperature > 0, no filter: Gumbel-max, exact full-vocabulary sampling
  filtered = 2,  // temperature > 0 with top_k / top_p / min_p: per-rank top candidates
};

struct SamplingParams {
  float temperature = 1.0f;  // >= 0; 0 = greedy
  int32_t top_k = 0;         // >= 0; 0 = off. Clamped to the candidate capacity K (candidates.h)
  float top_p = 1.0f;        // in [0, 1]; 1 = off; 0 keeps only the most likely token
  float min_p = 0.0f;        // in [0, 1]; 0 = off
  uint64_t seed = 0;         // any value; same seed, sequence stream and step => same token
  // Penalties on tokens already in the sequence, applied by apply_penalties() (penalties.h)
  // to each rank's own slice before reduce_slice(), i.e. before temperature; see there for
  // which tokens count (repetition: prompt and output; presence/frequency: output only).
  // Neutral defaults:
  float repetition_penalty = 1.0f;  // > 0; 1 = off (llama.cpp / CTRL: divide positive logits, multiply negative)
  float presence_penalty = 0.0f;    // in [-2, 2]; 0 = off (OpenAI: subtract once per present token)
  float frequency_penalty = 0.0f;   // in [-2, 2]; 0 = off (OpenAI: subtract per occurrence)

  // Ok, or a message naming the first bad field and its value.
  Status validate() const;
  SamplingMode mode() const {
    if (temperature == 0.0f) return SamplingMode::greedy;
    if (top_k > 0 || top_p < 1.0f || min_p > 0.0f) return SamplingMode::filtered;
    return SamplingMode::gumbel;
  }
};

}  // namespace shardlm
