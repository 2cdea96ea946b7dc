// Draft-model proposals for speculative decoding (`--spec-decode draft --draft-model
// PATH`): a small model with the target's vocabulary continues each sequence by
// up to k tokens, which the target verifies in its next step like n-gram proposals.
//
// Where it runs: whole, on rank 0 only, with its own KV cache and no collectives (a
// draft is small; sharding it would add two all-reduces per draft layer and token, and
// replicating it on every rank would compute the same tokens N times). Rank 0 runs it
// on the engine thread between steps, with the compute pool's threads.
//
// State per sequence: the draft's KV for the positions it has computed, and the tokens
// at them. A proposal first catches up with the sequence (the tokens the target accepted
// since the last call; after a rejection the draft's extra positions are rewritten),
// then decodes k tokens (greedily, or drawn from its distribution for sampled requests). Sequences get fixed slots of KV blocks; when every slot
// is taken, the least recently used sequence loses its state (it catches up again).
// Proposals stop for a sequence longer than --draft-context-len.
//
// Threads: the engine thread only.
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/sampling/spec-verify.h"

namespace shardlm {

class Tokenizer;
class ModelSource;
struct ModelWeights;
class KvStorage;
class ThreadPool;
class Forward;
class NoAllReduce;

struct DraftModelConfig {
  std::string path;       // the draft model (any format shardlm loads)
  int context_len = 0;    // positions the draft keeps per sequence (0: its trained context, at most 4096)
  int slots = 8;          // sequences whose draft state is kept at once
  int threads = 1;        // compute threads (SpecOptions::draft_threads)
  int block_size = 16;    // KV block size of the draft's cache
};

class DraftModel {
 public:
  // Loads the draft and checks that its vocabulary is the target's (same size, same
  // pieces, same special ids); a clear error otherwise.
  static Result<std::unique_ptr<DraftModel>> load(const DraftModelConfig& cfg, const Tokenizer& target);
  ~DraftModel();

  // Up to k tokens after tokens (i32 [len], the sequence so far) of sequence id; empty
  // when the sequence is beyond the draft's context. Greedy sp: the draft's argmax.
  // Sampled sp: each token is drawn from the draft's proposal distribution under sp
  // (proposal_distribution: temperature, top_k / min_p / top_p, cut to
  // Candidates::kMaxProbe tokens; the draft's logits carry no penalties) with the
  // proposer's draw of its position, and q (not null) gets those distributions, one per token.
  std::vector<int32_t> propose(uint64_t id, const std::vector<int32_t>& tokens, int k, const SamplingParams& sp,
                               std::vector<TokenProbs>* q);
  // The sequence ended: its slot is free.
  void forget(uint64_t id);

  int context_len() const { return ctx_; }
  uint64_t weight_bytes() const;
  double seconds() const { return seconds_; }  // time spent proposing

 private:
  DraftModel() = default;
  struct Slot {
    uint64_t owner = 0;           // sequence id (0: free)
    std::vector<int32_t> blocks;  // its KV block ids, in position order
    std::vector<int32_t> tokens;  // the token at each computed position
  };
  Slot& slot_for(uint64_t id);
  // Computes positions from..toks.size()-1 of the slot; logits_ holds the last one's.
  void extend(Slot& s, const std::vector<int32_t>& toks, size_t from);
  // The token after the logits in logits_ (position pos): argmax, or drawn as propose() says.
  int32_t choose(const SamplingParams& sp, size_t pos, std::vector<TokenProbs>* q);

  int ctx_ = 0, n_vocab_ = 0, block_size_ = 16;
  std::unique_ptr<ModelWeights> weights_;
  std::unique_ptr<KvStorage> kv_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<NoAllReduce> ar_;
  std::unique_ptr<Forward> fwd_;
  std::vector<Slot> slots_;
  std::list<size_t> lru_;  // slot indexes, most recently used first
  std::unordered_map<uint64_t, size_t> by_id_;
  std::vector<float> logits_;
  double seconds_ = 0;
};

// Whether two vocabularies are the same: "" when they are, else what differs.
std::string vocabulary_difference(const Tokenizer& a, const Tokenizer& b);

}  // namespace shardlm
