// Speculative decoding options (issue 15): which proposer, how many tokens it may
// propose, and when to stop proposing. Each default is written here once; `serve` and
// `generate` fill it from their flags.
#pragma once
#include <string>

namespace shardlm {

struct SpecOptions {
  std::string mode = "off";        // --spec-decode: off | ngram | draft
  int ngram_min = 1;               // --ngram-min: shortest suffix looked up earlier in the sequence
  int ngram_max = 4;               // --ngram-max: longest suffix looked up (tried first)
  int num_speculative_tokens = 5;  // --num-speculative-tokens: most tokens proposed per step (K)
  // --spec-max-seqs: propose only while at most this many sequences decode in a step;
  // beyond, a step is compute-bound and verifying proposals would cost more than it gains.
  int max_seqs = 4;
  // --spec-probe-steps: a sequence whose recent acceptance is below what a draft row
  // costs (the measured share of per-row work in its steps: spec/step-cost.h) proposes
  // one token every this many steps only, to notice when its text starts repeating.
  int probe_steps = 16;
  std::string draft_model;         // --draft-model: the draft for mode draft (same vocabulary as the target)
  int draft_context_len = 0;       // --draft-context-len: positions the draft keeps per sequence (0: its own, <= 4096)
  // --draft-threads: compute threads of the draft on rank 0. 1 by default: while rank 0
  // drafts, the other ranks busy-wait in MPI on their cores, so more threads than rank
  // 0's own core share only wait for each other (measured: docs/benchmarks.md).
  int draft_threads = 1;

  bool on() const { return mode != "off"; }
};

}  // namespace shardlm
