// Repetition, presence and frequency penalties (SamplingParams), applied by each rank to
// its own vocab slice of a row's logits, in place, before reduce_slice() (candidates.h)
// and so before temperature. Each token's logit is adjusted on its own, so the result
// does not depend on how the vocab is split. Pure computation: no MPI, no threads.
//
// Semantics (checked against HF transformers, vLLM and the OpenAI API reference):
//   1. repetition_penalty r (CTRL paper, HF RepetitionPenaltyLogitsProcessor, llama.cpp,
//      vLLM): for every distinct token that occurs in the prompt OR the generated text,
//      logit > 0 ? logit / r : logit * r (0 stays 0). Applied once per token, however
//      often it occurs. As in vLLM, prompt tokens count (HF's input_ids hold the prompt
//      too); OpenAI has no such parameter.
//   2. then presence_penalty a_p and frequency_penalty a_f (OpenAI, vLLM), over GENERATED
//      tokens only (c = occurrences in the generated text; the prompt does not count):
//      logit -= a_f * c + a_p * (c > 0), computed in double and rounded to float once.
// Non-finite logits stay non-finite (-inf stays -inf: a masked token stays masked).
//
// Cost: O(distinct tokens of the sequence) per call, never O(vocab): the counts are
// iterated and ids outside [vocab_begin, vocab_begin + n) skipped.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "shardlm/sampling/sampling-params.h"

namespace shardlm {

// Token occurrence counts of one sequence. Every rank keeps one per sequence with
// penalties (it sees every token of the sequence in the step messages: the prompt when
// the sequence is new, each sampled token in the next step). Owned by whoever owns the
// sequence's state on that rank (the engine thread / worker loop); not thread-safe.
// A sequence preempted and recomputed keeps its counts: do not add its tokens again.
class TokenCounts {
 public:
  struct Entry {
    int32_t token = 0;
    uint32_t generated = 0;  // occurrences in the generated text
    bool in_prompt = false;  // occurs in the prompt
  };

  void add_prompt(int32_t tok);  // one prompt token; negative ids are ignored
  void add(int32_t tok);         // one generated token; negative ids are ignored
  // Takes back one generated occurrence of tok (a rejected speculative token); a token
  // left with no occurrence and not in the prompt no longer counts for any penalty.
  void remove(int32_t tok);
  void add_prompt(const std::vector<int32_t>& toks) {
    for (int32_t t : toks) add_prompt(t);
  }
  void clear();

  uint32_t generated(int32_t tok) const;  // 0 if never generated
  bool in_prompt(int32_t tok) const;
  size_t distinct() const { return entries_.size(); }
  uint64_t n_generated() const { return n_generated_; }  // generated tokens added, with repeats
  // One entry per distinct token, in order of first occurrence (an entry taken back to
  // no occurrence stays, with generated 0 and in_prompt false).
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  Entry& entry(int32_t tok);
  std::vector<Entry> entries_;
  std::unordered_map<int32_t, uint32_t> index_;  // token -> position in entries_
  uint64_t n_generated_ = 0;
};

// True when p changes any logit (repetition_penalty != 1, presence or frequency != 0);
// callers may skip keeping TokenCounts and calling apply_penalties() otherwise.
bool penalties_active(const SamplingParams& p);

// logits_slice: f32 [n], the row's logits for global token ids vocab_begin .. vocab_begin+n-1;
// adjusted in place as described above. p must be valid (validate()).
void apply_penalties(float* logits_slice, int32_t vocab_begin, int32_t n, const TokenCounts& counts,
                     const SamplingParams& p);

}  // namespace shardlm
