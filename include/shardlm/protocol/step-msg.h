// The step message: what rank 0's scheduler decides for one engine iteration, as a diff
// against the previous step (ARCHITECTURE §2). Built by the scheduler (sched/), encoded
// by protocol/wire.h, broadcast by dist/channel.h, applied by every rank (dist/rank-model.h).
#pragma once
#include <cstdint>
#include <vector>

#include "shardlm/sampling/sampling-params.h"

namespace shardlm {

struct NewSeq {
  uint64_t seq_id = 0;
  uint32_t start_pos = 0;             // KV for positions < start_pos is already in block_table (prefix cache)
  uint32_t n_prompt = 0;              // prompt length; positions >= n_prompt hold generated tokens
  std::vector<int32_t> tokens;        // tokens at positions start_pos .. start_pos + size - 1
  std::vector<int32_t> block_table;   // every block of the sequence so far
  std::vector<int32_t> history;       // tokens at positions < start_pos (only when penalties need them)
  bool sample = false;                // sample after this step's last token
  uint8_t n_top = 0;                  // top alternatives kept for logprobs (0..20)
  SamplingParams sampling;
};

struct RunningSeq {
  uint64_t seq_id = 0;
  std::vector<int32_t> tokens;
  std::vector<int32_t> new_blocks;
  bool sample = false;
};

struct KvOp {
  uint8_t op = 0;
  int32_t src = 0, dst = 0;
};

struct DraftTokens {
  uint64_t seq_id = 0;
  std::vector<int32_t> tokens;
};

struct StepMsg {
  uint64_t step_id = 0;
  std::vector<NewSeq> new_seqs;
  std::vector<RunningSeq> running;
  std::vector<uint64_t> finished;
  std::vector<KvOp> kv_ops;
  std::vector<DraftTokens> drafts;
};

}  // namespace shardlm
