// Exact speculative (rejection) sampling, rank 0 side, for sampled rows (temperature
// > 0): a proposer offered token x for the next position, drawn from its distribution
// q; the target's row gives p, the request's sampling distribution (temperature, then
// top_k / min_p / top_p exactly as merge_and_sample draws, penalties already applied
// by the ranks). x is accepted with probability min(1, p(x) / q(x)); on rejection the
// token is drawn from the residual norm(max(0, p - q)). Whatever q is, the delivered
// token is then distributed exactly as p (Leviathan et al. 2023, Chen et al. 2023). An
// n-gram proposal is deterministic: q = {(x, 1)}, accept with p(x), else draw from p
// without x.
//
// Where p comes from, without full logits crossing the network (candidates.h):
//   filtered mode: the merged candidates are the exact truncated distribution
//     (filtered_survivors); a token outside them has p = 0 and the residual lies
//     inside them, so it is exact, and no token outside top_k / top_p is ever drawn.
//   gumbel mode (no filter, the full vocabulary): the row names q's support S as its
//     probes; every rank reports the logits of the probes in its slice and its
//     Gumbel-max winner over the tokens NOT in S. p(t) for t in S = exp(l_t/T - log Z)
//     from the slices' log-sum-exps; the residual is the mixture of its part on S
//     (max(0, p - q), known exactly) and of p outside S (mass 1 - p(S), drawn exactly
//     by the Gumbel winner outside S, whatever the split). Exact.
// q must have at most Candidates::kMaxProbe tokens (proposal_distribution truncates).
//
// Random numbers (rng.h), counter = the row's RNG counter (pos + 1), so every draw is a
// pure function of (seed, stream, counter) and the three never coincide:
//   the proposer's draw  uniform01(seed, stream, counter, kProposalIndex)
//   the acceptance test  uniform01(seed, stream, counter, kAcceptIndex)
//   the residual's draw  uniform01(seed, stream, counter) and the ranks' Gumbel noise
//                        (the ordinary draws of that row, unused when it verifies).
// Pure computation: no MPI, no threads, no state.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "shardlm/sampling/candidates.h"
#include "shardlm/sampling/sampling-params.h"

namespace shardlm {

// A proposal's distribution for one position: (token, probability), distinct tokens,
// probabilities > 0 summing to 1 (to rounding), most likely first, at most kMaxProbe.
using TokenProbs = std::vector<std::pair<int32_t, float>>;

// Index constants of the four-input draws (outside every token id).
constexpr uint64_t kProposalIndex = 0xFFFFFFFFFFFFFF01ull;
constexpr uint64_t kAcceptIndex = 0xFFFFFFFFFFFFFF02ull;

struct SpecVerdict {
  bool accepted = false;        // the proposed token is the row's token
  int32_t token = -1;           // the row's token (proposed or from the residual); -1: error
  float logprob = Candidates::kNegInf;  // log softmax(logits / T) of token over the full vocabulary
};

// per_rank: the row's records (every rank, same mode as p; gumbel mode: reduced with
// q's tokens, in q's order, as probes). p: a sampled request's params (temperature > 0).
// proposed must be one of q's tokens. token -1 when the records do not fit (mode,
// probe count) or no rank has a finite logit.
SpecVerdict verify_proposal(const std::vector<Candidates>& per_rank, const SamplingParams& p, uint64_t seq_stream,
                            uint64_t step_counter, int32_t proposed, const TokenProbs& q);

// The target's probability of token under p (filtered: inside the truncated,
// renormalised distribution; gumbel: token must be the record's only probe, or 0 is
// returned for a token it cannot see). For tests and diagnostics.
double target_probability(const std::vector<Candidates>& per_rank, const SamplingParams& p, int32_t token);

// Proposer side (a draft model on rank 0 has its full logits, f32 [n]): the
// distribution the draft proposes from: softmax(logits / T) with the request's top_k,
// min_p and top_p applied over the full vocabulary, then cut to its max_support most
// likely tokens and renormalised. Greedy p: {(argmax, 1)}. Empty when no logit is finite.
TokenProbs proposal_distribution(const float* logits, int32_t n, const SamplingParams& p, int max_support);

// One token drawn from q with the proposer's draw (see above); -1 for an empty q.
int32_t sample_proposal(const TokenProbs& q, const SamplingParams& p, uint64_t seq_stream, uint64_t step_counter);

}  // namespace shardlm
