// One request as the scheduler sees it: tokens computed and tokens wanted (no prefill
// or decode modes, ARCHITECTURE §6). Owned by the engine thread; the HTTP side never
// touches a Sequence (it talks to the engine through queues).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "shardlm/sampling/sampling-params.h"
#include "shardlm/sampling/spec-verify.h"

namespace shardlm {

enum class SeqState { waiting, running, finished };

// Why a sequence finished; the OpenAI finish_reason is finish_reason_name().
enum class FinishReason { none, stop, length, abort, timeout, error };
const char* finish_reason_name(FinishReason r);

struct Sequence {
  uint64_t id = 0;                   // request id (engine-wide, never reused)
  uint64_t wire_id = 0;              // id on the ranks for the current admission (new one after preemption)
  std::vector<int32_t> tokens;       // i32 [n_prompt + generated]: prompt, then sampled tokens
  int n_prompt = 0;
  int max_tokens = 16;               // generated tokens allowed
  SamplingParams sampling;
  int n_top = 0;                     // top alternatives wanted per token (logprobs), 0..20
  bool logprobs = false;             // each token's logprob is reported (the ranks then compute every row's lse)
  bool need_history = false;         // penalties: ranks need every token (set by the engine)
  std::string session;               // sticky session id ("" = none): its blocks are pinned when it ends
  // Speculative tokens proposed to follow `tokens` (set by the engine before schedule();
  // taken into the next step while the sequence decodes, then cleared).
  std::vector<int32_t> draft;
  // Sampled requests with a draft model: draft[i]'s proposal distribution q (draft[i]
  // was drawn from it), verified by rejection sampling (sampling/spec-verify.h). Empty
  // for greedy requests and certain (n-gram) proposals: those rows are verified by
  // equality with the row's ordinary token.
  std::vector<TokenProbs> draft_q;

  SeqState state = SeqState::waiting;
  FinishReason finish = FinishReason::none;
  int n_computed = 0;                // tokens whose KV is in the block table (on every rank)
  int n_cached = 0;                  // prompt tokens served from the prefix cache at first admission
  // The block table lives in the scheduler's KV manager, under wire_id, while running.
  bool on_ranks = false;             // ranks hold state for wire_id
  int n_preempted = 0;

  int n_generated() const { return static_cast<int>(tokens.size()) - n_prompt; }
  // Tokens still to compute before the next token can be sampled.
  int gap() const { return static_cast<int>(tokens.size()) - n_computed; }
};

}  // namespace shardlm
