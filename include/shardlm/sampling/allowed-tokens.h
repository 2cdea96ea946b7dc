// Constrained sampling, rank side: a row's allowed-token bitmask (computed by rank 0's
// grammar, carried in the step, protocol/step-msg.h RowMask) applied to this rank's
// vocabulary slice before the slice is reduced to candidates (candidates.h). Disallowed
// logits become -inf, which reduce_slice ignores, so the candidates, lse and every
// sampling parameter (temperature, top_k, top_p, min_p, penalties) act inside the mask.
// Pure computation: no MPI, no threads, no state.
#pragma once
#include <cstddef>
#include <cstdint>

namespace shardlm {

// Words of a bitmask over n_vocab tokens: bit (id % 64) of word (id / 64) = id allowed.
inline size_t allowed_mask_words(int32_t n_vocab) { return (static_cast<size_t>(n_vocab) + 63) / 64; }

// logits: f32 [n], the row's logits for global token ids v0 .. v0+n-1. bits: the mask
// over the whole vocabulary (at least allowed_mask_words(v0 + n) words). Returns the
// number of allowed tokens in the slice.
int32_t apply_allowed_mask(float* logits, int32_t v0, int32_t n, const uint64_t* bits);

}  // namespace shardlm
