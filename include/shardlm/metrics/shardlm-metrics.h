// ShardlmMetrics: the metric families shardlm exports (all named shardlm_*), registered
// once in a metrics::Registry (registry.h). Updated by the engine thread and the HTTP
// threads through lock-free handles.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>

#include "shardlm/metrics/registry.h"

namespace shardlm {

// KV tiers and sticky sessions (the engine adds the scheduler's and rank 0's disk
// store's counter deltas at each publish).
struct KvTierMetrics {
  explicit KvTierMetrics(metrics::Registry& r);
  metrics::Counter& offloaded_blocks;   // shardlm_kv_offloaded_blocks_total: blocks written to the disk tier (rank 0's)
  metrics::Counter& offloaded_bytes;    // shardlm_kv_offloaded_bytes_total
  metrics::Counter& restored_blocks;    // shardlm_kv_restored_blocks_total: blocks read back on every rank
  metrics::Counter& restored_bytes;     // shardlm_kv_restored_bytes_total (rank 0's)
  metrics::Counter& disk_hits;          // shardlm_kv_disk_hits_total: admissions served a run of disk blocks
  metrics::Counter& disk_misses;        // shardlm_kv_disk_misses_total: admissions that missed memory and disk
  metrics::Counter& restore_failures;   // shardlm_kv_restore_failures_total: restored blocks recomputed (a rank failed)
  metrics::Counter& write_drops;        // shardlm_kv_disk_write_drops_total: offloads dropped (writer behind)
  metrics::Counter& disk_errors;        // shardlm_kv_disk_errors_total: I/O errors (writes and reads)
  metrics::Counter& bad_files;          // shardlm_kv_disk_bad_files_total: truncated/corrupt/foreign files deleted
  metrics::Gauge& disk_blocks;          // shardlm_kv_disk_blocks: block files held (rank 0)
  metrics::Gauge& disk_bytes;           // shardlm_kv_disk_bytes
  metrics::Counter& session_hits;       // shardlm_session_hits_total: turns that reused their session's blocks
  metrics::Gauge& pinned_bytes;         // shardlm_session_pinned_bytes: KV bytes pinned by sessions (all ranks)
  metrics::Gauge& sessions;             // shardlm_sessions: sessions known
};

// The families shardlm exports, registered once at construction; the handles are
// updated by the HTTP threads and the engine thread without locks. Unit suffixes follow
// Prometheus conventions (_seconds, _bytes; token counts carry "tokens" in the name).
struct ShardlmMetrics {
  // Finish reasons with pre-created series, in this order.
  static constexpr std::array<std::string_view, 5> kFinishReasons = {"stop", "length", "abort", "error", "timeout"};

  explicit ShardlmMetrics(metrics::Registry& registry);

  metrics::Registry& registry;

  // --- requests (engine thread sets the gauges every step) ---
  metrics::Gauge& requests_running;  // shardlm_requests_running: sequences in the running batch
  metrics::Gauge& requests_waiting;  // shardlm_requests_waiting: requests queued, not yet scheduled
  // shardlm_requests_finished_total{reason}: requests that ended, by reason. The five
  // kFinishReasons are pre-created (lock-free); another reason creates its series.
  metrics::Counter& requests_finished(std::string_view reason);
  // shardlm_requests_total{endpoint}: requests received, by route name ("completions",
  // "chat_completions", ...). Pass route names, never raw paths (label cardinality).
  // Takes the registry mutex: for per-request use, not per token.
  metrics::Counter& requests(std::string_view endpoint);
  // shardlm_http_responses_total{code}: HTTP responses sent, by status code. Takes the mutex.
  metrics::Counter& http_responses(int code);

  // --- tokens ---
  metrics::Counter& prompt_tokens_total;         // shardlm_prompt_tokens_total: prompt tokens of admitted requests
  metrics::Counter& generation_tokens_total;     // shardlm_generation_tokens_total: tokens sampled
  metrics::Counter& cached_prompt_tokens_total;  // shardlm_cached_prompt_tokens_total: prompt tokens served from the prefix cache

  // --- latency histograms (seconds) ---
  // shardlm_time_to_first_token_seconds: request arrival to first token;
  //   bounds 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 20 30 60.
  metrics::Histogram& time_to_first_token_seconds;
  // shardlm_inter_token_latency_seconds: gap between consecutive tokens of a request;
  //   bounds 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5.
  metrics::Histogram& inter_token_latency_seconds;
  // shardlm_request_duration_seconds: arrival to the last token (or the error);
  //   bounds 0.1 0.25 0.5 1 2.5 5 10 20 30 60 120 300 600.
  metrics::Histogram& request_duration_seconds;

  // --- KV cache (set through set_kv_blocks) ---
  metrics::Gauge& kv_blocks_capacity;  // shardlm_kv_blocks_capacity: blocks in the pool (one rank's pool; all ranks alike)
  metrics::Gauge& kv_blocks_used;      // shardlm_kv_blocks_used: blocks referenced by sequences
  metrics::Gauge& kv_usage_ratio;      // shardlm_kv_usage_ratio: used / capacity, 0..1 (0 when capacity is 0)
  void set_kv_blocks(int64_t used, int64_t capacity);

  // --- prefix cache, in tokens (hit rate = rate(hits) / rate(queries)) ---
  metrics::Counter& prefix_cache_queries_total;  // shardlm_prefix_cache_queries_total: prompt tokens looked up
  metrics::Counter& prefix_cache_hits_total;     // shardlm_prefix_cache_hits_total: of those, found cached

  // --- engine steps (collective time per step = rate(collective_seconds) / rate(steps)) ---
  metrics::Counter& steps_total;                // shardlm_steps_total: engine steps run (STEP messages)
  metrics::Counter& collective_seconds_total;   // shardlm_collective_seconds_total: rank 0's time in MPI collectives
  metrics::Histogram& step_duration_seconds;    // shardlm_step_duration_seconds: one step, plan to sampled tokens;
                                                //   bounds 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5.
  // --- speculative decoding (acceptance rate = rate(accepted) / rate(draft tokens)) ---
  metrics::Counter& spec_drafts_total;           // shardlm_spec_decode_drafts_total: sequence-steps that carried proposals
  metrics::Counter& spec_draft_tokens_total;     // shardlm_spec_decode_draft_tokens_total: tokens proposed
  metrics::Counter& spec_accepted_tokens_total;  // shardlm_spec_decode_accepted_tokens_total: of those, accepted

  // One step: steps_total += 1, collective_seconds_total += collective, observe duration.
  void observe_step(double step_seconds, double collective_seconds);

  // --- model and memory ---
  metrics::Gauge& model_loaded;  // shardlm_model_loaded: 1 while a model is loaded and ready, else 0
  // shardlm_rank_resident_bytes{rank}: resident memory of each rank (as last reported).
  // Takes the mutex.
  metrics::Gauge& rank_resident_bytes(int rank);

  KvTierMetrics kv_tiers;

 private:
  std::array<metrics::Counter*, kFinishReasons.size()> finished_{};
};

}  // namespace shardlm
