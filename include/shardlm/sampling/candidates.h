// Distributed sampling, rank side. Each rank holds the logits of a contiguous vocab slice
// [v0, v0 + n) of every sampled row; reduce_slice() turns the slice into a Candidates
// record of fixed byte size (record_bytes(K)), the caller gathers the records to rank 0
// (MPI_Gather with a fixed count) and rank 0 merges them (merge.h). Full logits never
// cross the network. Pure computation: no MPI, no threads, no state.
//
// What a slice is reduced to, by SamplingParams::mode():
//   greedy:   the slice's argmax (ties: lowest token id), k = 1.
//   gumbel:   the slice's winner of argmax(logit/T + G(seed, seq, step, token)) with Gumbel
//             noise G drawn per *global* token id, so the global winner (an exact sample of
//             softmax(logits/T)) does not depend on how the vocab is split; plus the
//             slice's argmax in `top` (k = 1) for logprobs.
//   filtered: the slice's k = min(top_k, K) (top_k > 0) or K best logits. The union over
//             ranks then holds the global top k exactly, whatever the split.
// Probes (speculative verification, sampling/spec-verify.h): a row may name up to
// kMaxProbe tokens (the proposal's support for the next position); the record then
// carries each probe token's logit when it lies in this slice (-inf otherwise), and in
// gumbel mode the slice's winner is taken over the tokens that are NOT probes (the
// residual's sample outside the support).
// In every mode: max_logit and lse = log-sum-exp of logit/T over the slice (T = 1 for
// greedy), so rank 0 gets exact global probabilities (log Z = logsumexp of the lses).
// Only finite logits take part (NaN and +-inf are ignored); a slice with none, or n == 0,
// gives an empty record (lse = max_logit = -inf, no top, no sample).
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/sampling/sampling-params.h"

namespace shardlm {

// x = logit / T in double: the one formula every rank and rank 0 use for scaled logits.
inline double scaled_logit(float logit, float temperature) {
  return static_cast<double>(logit) / static_cast<double>(temperature);
}

struct Candidates {
  static constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  static constexpr int kMaxProbe = 16;  // probe tokens a row may name (record room)

  SamplingMode mode = SamplingMode::greedy;
  int32_t k = 0;                // capacity this rank used (1, or min(top_k, K) / K); top.size() <= k
  float temperature = 1.0f;     // T of lse and keys (1 for greedy)
  float max_logit = kNegInf;    // largest finite logit of the slice
  // lse of a row whose probabilities nobody reads (reduce_slice's need_lse): merged_lse()
  // and the logprobs derived from it are then NaN.
  static constexpr double kLseNotComputed = std::numeric_limits<double>::infinity();
  double lse = -std::numeric_limits<double>::infinity();  // log sum exp(logit / T) over the slice
  // gumbel mode only: the slice's winner (global token id, its logit, logit/T + noise); -1 if none.
  int32_t sample_token = -1;
  float sample_logit = kNegInf;
  double sample_key = -std::numeric_limits<double>::infinity();
  // The slice's best finite logits as (global token id, logit), sorted by logit
  // descending then token id ascending; at most k entries.
  std::vector<std::pair<int32_t, float>> top;
  // The row's probe tokens' logits, in the row's probe order: the logit (after
  // penalties) where the token is in this slice, else -inf. At most kMaxProbe.
  std::vector<float> probe_logits;

  // Bytes of one serialized record with room for K top entries (K >= 1): a 48-byte
  // header, 8 bytes per entry, then the probe block (u32 count + kMaxProbe f32).
  // Depends on K only.
  static size_t record_bytes(int K);
  // Appends exactly record_bytes(K) bytes (unused entries zeroed). top.size() must be <= K.
  void serialize(std::vector<uint8_t>& out, int K) const;
  // Reads one record from n bytes (n = record_bytes(K) of the writer); checks the magic,
  // the counts against n, the order of `top` and the token ids.
  static Result<Candidates> deserialize(const uint8_t* p, size_t n);

  bool operator==(const Candidates&) const = default;
};

// logits: f32 [n], the row's logits for global token ids v0 .. v0+n-1.
// seq_stream / step_counter: the RNG stream (sequence id) and counter (its step); they
// must be the same on every rank for a given row. K >= 1: candidate capacity (the
// caller's choice, e.g. 64..1024, the same on every rank; values < 1 count as 1).
// p must be valid (validate()).
// n_top: greedy and gumbel records keep the slice's min(n_top, K) best logits in `top`
// (k = that count, at least 1) so rank 0 can report top logprobs; filtered records keep
// their own k.
// probe: the row's probe tokens (global ids, at most kMaxProbe, distinct; null or empty
// for none).
// need_lse: false when nothing will read the row's probabilities (no logprobs asked
// for): greedy and gumbel rows without probes then skip the log-sum-exp pass over the
// slice and leave lse = kLseNotComputed; filtered rows (top-p normalizes with it) and
// probed rows (sampled verification) always compute it. The chosen token is the same.
Candidates reduce_slice(const float* logits, int32_t v0, int32_t n, const SamplingParams& p, uint64_t seq_stream,
                        uint64_t step_counter, int K, int n_top = 0, const std::vector<int32_t>* probe = nullptr,
                        bool need_lse = true);

}  // namespace shardlm
