// One rank's slice of the model weights, owned (copied out of the mapped file, so
// unloading returns the memory to the OS). `_local` marks a sharded dimension.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "shardlm/core/mmap.h"
#include "shardlm/core/status.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/model/hparams.h"
#include "shardlm/model/model-source.h"
#include "shardlm/model/shard-plan.h"

namespace shardlm {

// A 2-D weight in its stored type (or F32 when a split fell inside a quant block).
struct WeightMatrix {
  DType type = DType::F32;
  int64_t rows = 0, cols = 0;
  size_t row_bytes = 0;
  Buffer data;  // [rows, row_bytes], or Panel32 / Rows8 (matmul.h)
  WeightLayout layout = WeightLayout::Rows;
  WeightView view() const { return {type, rows, cols, row_bytes, data.data(), layout}; }
  size_t bytes() const { return data.size(); }
};

struct LayerWeights {
  std::vector<float> attn_norm;    // f32 [n_embd]
  WeightMatrix wq;                 // [n_head_local * head_dim, n_embd]
  WeightMatrix wk, wv;             // [n_kv_local * head_dim, n_embd]
  std::vector<float> bq;           // f32 [n_head_local * head_dim]  (qkv_bias only)
  std::vector<float> bk, bv;       // f32 [n_kv_local * head_dim]    (qkv_bias only)
  std::vector<float> q_norm;       // f32 [head_dim]                 (qk_norm only)
  std::vector<float> k_norm;       // f32 [head_dim]                 (qk_norm only)
  WeightMatrix wo;                 // [n_embd, n_head_local * head_dim]
  std::vector<float> ffn_norm;     // f32 [n_embd]
  WeightMatrix w_gate, w_up;       // [n_ff_local, n_embd]
  WeightMatrix w_down;             // [n_embd, n_ff_local]
};

struct ModelWeights {
  HParams hp;
  ShardPlan plan;
  WeightMatrix tok_embd;           // [n_vocab_local, n_embd]
  std::vector<float> output_norm;  // f32 [n_embd]
  WeightMatrix output;             // [n_vocab_local, n_embd] (a copy of the embedding slice when tied)
  std::vector<LayerWeights> layers;
  uint64_t bytes() const;
};

// Called around each layer so that the distributed layer can guard memory and
// check in with the other ranks (eval timeout); an error stops the load.
// layer = -1 for the global tensors (embedding, output), loaded first.
struct LoadHooks {
  std::function<Status(int layer, uint64_t bytes_needed)> before_layer;
  std::function<Status(int layer)> after_layer;
};

// Bytes this rank's slice of a layer needs (for the memory guard).
uint64_t layer_slice_bytes(const ModelSource& src, const ShardPlan& plan, int layer);

struct LoadOptions {
  // --weight-dtype: re-encode F32/F16/BF16 matrices in this type at load (none = as stored).
  std::optional<DType> weight_dtype;
  // Store Q8_0 / Q4_0 / Q4_K / Q6_K (and, on AVX2 CPUs without AVX512-VNNI, Q4_1 / Q5_0 / Q5_1)
  // matrices (not the embedding table) as Panel32 where the CPU has
  // the integer kernels for it (gemm_int8_packable), and F16 / BF16 / F32 matrices as
  // Rows8 at the AVX2 level (gemm_float_supported): same bytes, faster steps.
  bool pack_panels = true;
};

Result<std::unique_ptr<ModelWeights>> load_weights(const ModelSource& src, const ShardPlan& plan,
                                                   const LoadHooks& hooks, const LoadOptions& opt = {});

// The ffn split unit for this model (block size of ffn_down's type).
// The unit the ffn split must respect: the block of the stored type, and of the
// --weight-dtype target when one is given.
int ff_split_unit(const ModelSource& src, std::optional<DType> weight_dtype = std::nullopt);

}  // namespace shardlm
