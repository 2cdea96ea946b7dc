// Speculative decoding options (issue 15): which proposer, how many tokens it may
// propose, and when to stop proposing. Each default is written here once; `serve` and
// `generate` fill it from their flags.
#pragma once
#include <string>

namespace shardlm {

struct SpecOptions {
  std::string mode = "off";        // --spec-decode: off | ngram
  int ngram_min = 1;               // --ngram-min: shortest suffix looked up earlier in the sequence
  int ngram_max = 4;               // --ngram-max: longest suffix looked up (tried first)
  int num_speculative_tokens = 5;  // --num-speculative-tokens: most tokens proposed per step (K)
  // --spec-max-seqs: propose only while at most this many sequences decode in a step;
  // beyond, a step is compute-bound and verifying proposals would cost more than it gains.
  int max_seqs = 4;

  bool on() const { return mode != "off"; }
};

}  // namespace shardlm
