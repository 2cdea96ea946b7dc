// Distributed sampling, rank 0 side: merges the Candidates records of all ranks for one
// row (candidates.h) into the sampled token. Pure computation, no MPI.
//
// The result does not depend on the number of ranks or on the split points: every order
// is total (logit descending, then token id ascending) and every random number is drawn
// by (seed, sequence, step[, token]) (rng.h).
//   greedy:   the best top[0] over ranks; ties go to the lowest token id. Exact.
//   gumbel:   the best sample_key over ranks (ties: lowest id): an exact sample of
//             softmax(logits / T) over the whole vocabulary.
//   filtered: the merged records, sorted, cut to k entries = the global top k exactly
//             (k = min(top_k, K) with top_k on, else K), then
//               top_k: keep the first k (top_k > K acts as top_k = K);
//               min_p: keep p >= min_p * p_max (exact: p_max is the first candidate);
//               top_p: keep the smallest prefix whose cumulative mass reaches top_p times
//                      the mass left by top_k and min_p. That mass is summed from the
//                      candidates when they hold all of it (top_k on, or the min_p cut
//                      falls inside them, or the vocab has fewer finite logits than K);
//                      otherwise it is the full Z from the slices' lses (which counts, with
//                      min_p on, tokens past the candidates that min_p would drop).
//                      If all candidates together do not reach top_p (their mass is below
//                      top_p, possible only with top_k off), all of them are kept: the
//                      support is then the global top K, i.e. the tail past K is dropped.
//               and draws from the survivors, renormalized, with u = uniform01(seed,
//               sequence, step). Survivor probabilities are computed relative to the
//               best candidate, so the draw uses no split-dependent sum; only the top_p cut
//               with top_k off compares against the full Z, which the split changes in
//               the last bits of a double (a different token needs top_p to fall within
//               ~1e-15 of a cumulative mass).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "shardlm/sampling/candidates.h"
#include "shardlm/sampling/sampling-params.h"

namespace shardlm {

// per_rank: one record per rank for the same row, reduced with the same p (any order of
// ranks gives the same token). seq_stream / step_counter: as given to reduce_slice.
// Returns the token id, or -1 when no rank has a finite logit, per_rank is empty, or a
// record's mode does not match p. out_logprob (optional): log softmax(logits / T) of the
// token over the full vocabulary (T = 1 for greedy); -inf when -1 is returned.
int32_t merge_and_sample(const std::vector<Candidates>& per_rank, const SamplingParams& p, uint64_t seq_stream,
                         uint64_t step_counter, float* out_logprob = nullptr);

// filtered mode: the tokens the draw above chooses from, most likely first, each with
// its weight p_i / p_max (the draw takes token i with probability weight_i / sum of the
// weights: the truncated, renormalised distribution). Empty when no rank has a logit.
std::vector<std::pair<int32_t, double>> filtered_survivors(const std::vector<Candidates>& per_rank,
                                                           const SamplingParams& p);

// log Z = log sum exp(logit / T) over the whole vocabulary (logsumexp of the slices' lse);
// NaN when a slice did not compute its lse (Candidates::kLseNotComputed).
double merged_lse(const std::vector<Candidates>& per_rank);

// The global n most likely tokens as (token id, log softmax(logits / T)), most likely
// first (ties: lowest id). Limited to what the records carry exactly: at most k entries
// (k = 1 for greedy and gumbel records, min(top_k, K) or K for filtered ones).
std::vector<std::pair<int32_t, float>> top_logprobs(const std::vector<Candidates>& per_rank, int n);

}  // namespace shardlm
