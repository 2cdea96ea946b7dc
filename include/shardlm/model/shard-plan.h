// The Megatron-style shard plan (ARCHITECTURE §4): which slice of every weight a
// rank holds. Pure data, computed from the hparams; the loader applies it, the
// model code only ever sees local sizes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "shardlm/core/dtype.h"
#include "shardlm/core/status.h"
#include "shardlm/model/hparams.h"

namespace shardlm {

struct Range {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

struct ShardPlan {
  int rank = 0;
  int world = 1;
  Range q_heads;             // query heads held here: attn_q rows, attn_output columns (× head_dim)
  Range kv_heads;            // KV heads held here (replicated across ranks when world > n_head_kv)
  std::vector<int> q_to_kv;  // [q_heads.size()] local KV head index for each local query head
  Range ff;                  // ffn hidden units: gate/up rows, down columns
  Range vocab;               // token_embd / output rows
  int ff_unit = 1;           // ff boundaries fall on multiples of this (quant block of ffn_down)

  std::string describe() const;
};

// Balanced contiguous split of n units into `parts`; part i gets Range (uneven allowed).
Range split_range(int64_t n, int parts, int i);

// ff_unit: the block size of ffn_down's type (its columns are split on block boundaries).
Result<ShardPlan> make_shard_plan(const HParams& h, int rank, int world, int ff_unit = 1);

}  // namespace shardlm
