#include "shardlm/model/shard-plan.h"

#include <fmt/format.h>

namespace shardlm {

Range split_range(int64_t n, int parts, int i) {
  const int64_t base = n / parts, extra = n % parts;
  const int64_t b = i * base + std::min<int64_t>(i, extra);
  return {b, b + base + (i < extra ? 1 : 0)};
}

std::string ShardPlan::describe() const {
  return fmt::format("rank {}/{}: q_heads [{}, {}) kv_heads [{}, {}) ff [{}, {}) vocab [{}, {})", rank, world,
                     q_heads.begin, q_heads.end, kv_heads.begin, kv_heads.end, ff.begin, ff.end, vocab.begin,
                     vocab.end);
}

Result<ShardPlan> make_shard_plan(const HParams& h, int rank, int world, int ff_unit) {
  if (world < 1 || rank < 0 || rank >= world) return Status::errorf("bad rank {} of {}", rank, world);
  if (world > h.n_head)
    return Status::errorf("cannot split {} attention heads over {} ranks: use at most {} ranks", h.n_head, world, h.n_head);
  if (ff_unit < 1 || h.n_ff % ff_unit != 0)
    return Status::errorf("feed-forward size {} is not a multiple of the block size {}", h.n_ff, ff_unit);
  if (h.n_ff / ff_unit < world)
    return Status::errorf("feed-forward size {} has only {} blocks of {}: too few for {} ranks", h.n_ff, h.n_ff / ff_unit,
                          ff_unit, world);
  if (h.n_vocab < world) return Status::errorf("vocabulary of {} is smaller than {} ranks", h.n_vocab, world);
  ShardPlan p;
  p.rank = rank;
  p.world = world;
  p.ff_unit = ff_unit;
  const int group = h.n_head / h.n_head_kv;
  if (world <= h.n_head_kv) {
    // Each rank owns whole KV groups: its KV heads and their query heads.
    p.kv_heads = split_range(h.n_head_kv, world, rank);
    p.q_heads = {p.kv_heads.begin * group, p.kv_heads.end * group};
  } else {
    // More ranks than KV heads: split query heads, replicate the KV heads they need.
    p.q_heads = split_range(h.n_head, world, rank);
    p.kv_heads = {p.q_heads.begin / group, (p.q_heads.end - 1) / group + 1};
  }
  for (int64_t q = p.q_heads.begin; q < p.q_heads.end; ++q)
    p.q_to_kv.push_back(static_cast<int>(q / group - p.kv_heads.begin));
  Range fu = split_range(h.n_ff / ff_unit, world, rank);
  p.ff = {fu.begin * ff_unit, fu.end * ff_unit};
  p.vocab = split_range(h.n_vocab, world, rank);
  return p;
}

}  // namespace shardlm
