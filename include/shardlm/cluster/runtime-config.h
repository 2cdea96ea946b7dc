// Runtime parameters (not model-intrinsic). Plain struct; each field documents its
// default. Environment variables are read only in main(); rank 0 resolves the
// config once and broadcasts it (as JSON inside the LOAD message).
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include "shardlm/cluster/tcp-backoff.h"

#include "shardlm/core/status.h"

namespace shardlm {

struct RuntimeConfig {
  std::string model_path;           // .gguf, HF directory, or llama2.c .bin
  std::string tokenizer_path;       // llama2.c only: tokenizer .bin (default: beside the model)
  int threads = 0;                  // compute threads per rank; 0 = cores of the node / ranks on it
  int n_ctx = 0;                    // context length; 0 = min(trained context, 4096)
  int kv_blocks = 0;                // KV blocks per rank; 0 = enough for n_ctx × max_seqs
  int max_seqs = 1;                 // sequences that may hold KV at once (sizes the KV pool; the engine
                                    //   sets it from SchedulerOptions::max_num_seqs)
  int block_size = 16;              // tokens per KV block
  std::string kv_cache_dtype = "f16";  // --kv-cache-dtype: f32, f16, bf16, fp8_e4m3 or int8 (kernels/kv-quant.h)
  std::string weight_dtype;         // --weight-dtype: quantize F32/F16/BF16 weights at load (q8_0, q4_0, ...); "" = as stored
  bool pack_weights = true;         // --no-pack-weights: keep Q8_0/Q4_0/Q4_K/Q6_K rows as stored (LoadOptions::pack_panels)
  bool batch_invariant = true;      // --no-batch-invariant: let steps of several tokens use the GEMMs (faster
                                    //   prompts; a token's logits then depend on what shares its step;
                                    //   kernels/matmul.h states the rule)
  int sample_candidates = 64;       // per-rank candidates for top-k/top-p/min-p sampling
  double eval_timeout_s = 300;      // SHARDLM_EVAL_TIMEOUT: per-layer load check-in deadline (the
                                    //   first layer's; later ones are derived, see load_timeout_floor_s)
  double load_timeout_floor_s = 30; // --load-timeout-floor-s: after the first layer, a load check-in waits
                                    //   max(collective_timeout_k × slowest layer so far, this), at most
                                    //   eval_timeout_s (fixed at eval_timeout_s when collective_timeout_k is 0)
  // The deadline of a step's collectives (cluster/step-deadline.h): derived from the
  // measured step time, max(k × p99 per-token step time × tokens, floor), and this
  // long until enough steps are measured; fixed at collective_timeout_s when
  // collective_timeout_k is 0 (SHARDLM_COLLECTIVE_TIMEOUT or --collective-timeout-s set it).
  double collective_timeout_s = 300;       // --collective-timeout-s, SHARDLM_COLLECTIVE_TIMEOUT (both: fixed)
  double collective_timeout_k = 20;        // --collective-timeout-k: multiple of the p99 step time (0 = fixed)
  double collective_timeout_floor_s = 10;  // --collective-timeout-floor-s: the derived deadline's minimum
  double memory_guard_gb = 0;       // SHARDLM_MEMORY_GUARD_GB: keep at least this much available; 0 = off
  TcpBackoffOptions tcp_backoff;    // --tcp-rto-max-ms: each rank's own (not broadcast; cluster/tcp-backoff.h)
  // KV tiers (ARCHITECTURE §5): "off" (no reuse across requests), "cpu" (the prefix
  // cache in memory), "cpu_disk" (blocks evicted from memory go to each rank's disk
  // tier and are read back on a later prefix hit). --kv-tier.
  std::string kv_tier = "cpu";
  std::string kv_disk_dir;          // --kv-disk-dir: root of the disk tier; "" = $HOME/.cache/shardlm/kv (main resolves it)
  double kv_disk_gb = 8;            // --kv-disk-gb: bytes of block files each rank keeps (LRU past it)
  int kv_disk_queue_blocks = 64;    // --kv-disk-queue: blocks waiting for a rank's writer before offloads drop
  std::string log_level = "info";
  // Test aid: each rank writes the first sampled row's logits slice to
  // PREFIX.rankR.bin (i32 vocab_begin, i32 n, f32[n]); empty = off.
  std::string dump_logits_prefix;
  int load_delay_ms = 0;            // test aid: pause after each layer (to test faults during load)
  // Test aid: every rank pauses this long after each step that carries prompt tokens
  // (more tokens than logit rows), to test faults during prefill; 0 = off.
  int prefill_delay_ms = 0;
  // Test aid: every rank pauses this long after each step without prompt tokens (decode
  // only), so that a stream lasts long enough to fault it mid-decode or mid-drain; 0 = off.
  int decode_delay_ms = 0;

  // The context length a model runs with: n_ctx when set, else min(trained, 4096).
  static int resolve_n_ctx(int n_ctx, int n_ctx_train) { return n_ctx > 0 ? n_ctx : std::min(n_ctx_train, 4096); }

  std::string to_json() const;
  static Result<RuntimeConfig> from_json(const std::string& s);
};

}  // namespace shardlm
