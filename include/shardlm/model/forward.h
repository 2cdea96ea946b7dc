// The transformer forward pass over a flat batch of tokens from several
// sequences (no prefill/decode modes). Knows nothing of MPI: the two reductions
// per layer and the embedding's go through the AllReduce hook.
#pragma once
#include <cstdint>
#include <vector>

#include "shardlm/core/thread-pool.h"
#include "shardlm/kernels/ops.h"
#include "shardlm/kv/kv-storage.h"
#include "shardlm/model/weights.h"

namespace shardlm {

// Sum a buffer over all ranks in place (identity on one rank).
class AllReduce {
 public:
  virtual ~AllReduce() = default;
  virtual void sum(float* data, int64_t n) = 0;
};

class NoAllReduce : public AllReduce {
 public:
  void sum(float*, int64_t) override {}
};

struct ForwardBatch {
  std::vector<int32_t> tokens;              // [n_tok] token ids
  std::vector<int32_t> pos;                 // [n_tok] position of each token in its sequence
  std::vector<const int32_t*> block_table;  // [n_tok] block table of each token's sequence
  std::vector<int32_t> logit_rows;          // indices into tokens whose logits are wanted
  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
};

class Forward {
 public:
  Forward(const ModelWeights& w, KvStorage& kv, ThreadPool& pool, AllReduce& ar);
  // logits: f32 [logit_rows.size(), n_vocab_local] (this rank's vocab slice).
  void run(const ForwardBatch& b, std::vector<float>& logits);
  // Time spent inside the all-reduces during the last run() (seconds).
  double last_collective_seconds() const { return coll_s_; }

 private:
  void layer(int l, const ForwardBatch& b, const AttnTokens& at);
  void reduce(float* data, int64_t n);
  const ModelWeights& w_;
  KvStorage& kv_;
  ThreadPool& pool_;
  AllReduce& ar_;
  RopeParams rope_;
  double coll_s_ = 0;
  // Scratch, resized per batch.
  std::vector<float> x_;     // [n, n_embd] residual stream
  std::vector<float> xn_;    // [n, n_embd] normed
  std::vector<float> q_;     // [n, n_head_local, head_dim]
  std::vector<float> k_, v_; // [n, n_kv_local, head_dim]
  std::vector<float> att_;   // [n, n_head_local, head_dim]
  std::vector<float> o_;     // [n, n_embd]
  std::vector<float> g_, u_; // [n, n_ff_local]
};

}  // namespace shardlm
