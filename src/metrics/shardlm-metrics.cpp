#include "shardlm/metrics/shardlm-metrics.h"

namespace shardlm {
namespace {

const std::vector<double> kTtftBounds = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60};
const std::vector<double> kItlBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
const std::vector<double> kRequestBounds = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600};
const std::vector<double> kStepBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

constexpr const char* kFinishedName = "shardlm_requests_finished_total";
constexpr const char* kFinishedHelp = "Requests that ended, by finish reason.";

}  // namespace

ShardlmMetrics::ShardlmMetrics(metrics::Registry& r)
    : registry(r),
      requests_running(r.gauge("shardlm_requests_running", "Sequences in the running batch.")),
      requests_waiting(r.gauge("shardlm_requests_waiting", "Requests queued and not yet scheduled.")),
      prompt_tokens_total(r.counter("shardlm_prompt_tokens_total", "Prompt tokens of admitted requests.")),
      generation_tokens_total(r.counter("shardlm_generation_tokens_total", "Tokens generated (sampled).")),
      cached_prompt_tokens_total(
          r.counter("shardlm_cached_prompt_tokens_total", "Prompt tokens served from the prefix cache.")),
      time_to_first_token_seconds(r.histogram("shardlm_time_to_first_token_seconds",
                                              "Time from request arrival to its first token.", kTtftBounds)),
      inter_token_latency_seconds(r.histogram("shardlm_inter_token_latency_seconds",
                                              "Time between consecutive tokens of a request.", kItlBounds)),
      request_duration_seconds(r.histogram("shardlm_request_duration_seconds",
                                           "Time from request arrival to its end.", kRequestBounds)),
      kv_blocks_capacity(r.gauge("shardlm_kv_blocks_capacity", "KV cache blocks in the pool.")),
      kv_blocks_used(r.gauge("shardlm_kv_blocks_used", "KV cache blocks referenced by sequences.")),
      kv_usage_ratio(r.gauge("shardlm_kv_usage_ratio", "Fraction of KV cache blocks in use (0..1).")),
      prefix_cache_queries_total(
          r.counter("shardlm_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.")),
      prefix_cache_hits_total(
          r.counter("shardlm_prefix_cache_hits_total", "Prompt tokens found in the prefix cache.")),
      steps_total(r.counter("shardlm_steps_total", "Engine steps run.")),
      collective_seconds_total(
          r.counter("shardlm_collective_seconds_total", "Time rank 0 spent in MPI collectives.")),
      step_duration_seconds(
          r.histogram("shardlm_step_duration_seconds", "Duration of one engine step.", kStepBounds)),
      spec_drafts_total(r.counter("shardlm_spec_decode_drafts_total", "Sequence-steps that carried speculative proposals.")),
      spec_draft_tokens_total(r.counter("shardlm_spec_decode_draft_tokens_total", "Speculative tokens proposed.")),
      spec_accepted_tokens_total(r.counter("shardlm_spec_decode_accepted_tokens_total", "Speculative tokens accepted.")),
      model_loaded(r.gauge("shardlm_model_loaded", "1 while a model is loaded and ready, else 0.")),
      kv_tiers(r) {
  for (size_t i = 0; i < kFinishReasons.size(); ++i)
    finished_[i] = &r.counter(kFinishedName, kFinishedHelp, {{"reason", std::string(kFinishReasons[i])}});
}

KvTierMetrics::KvTierMetrics(metrics::Registry& r)
    : offloaded_blocks(r.counter("shardlm_kv_offloaded_blocks_total", "KV blocks written to the disk tier (rank 0).")),
      offloaded_bytes(r.counter("shardlm_kv_offloaded_bytes_total", "Bytes of KV block files written (rank 0).")),
      restored_blocks(r.counter("shardlm_kv_restored_blocks_total", "KV blocks read back from disk on every rank.")),
      restored_bytes(r.counter("shardlm_kv_restored_bytes_total", "Bytes of KV block files read back (rank 0).")),
      disk_hits(r.counter("shardlm_kv_disk_hits_total", "Admissions that read a run of blocks back from disk.")),
      disk_misses(r.counter("shardlm_kv_disk_misses_total", "Admissions whose next block was in neither tier.")),
      restore_failures(r.counter("shardlm_kv_restore_failures_total", "Restored blocks that failed on a rank (recomputed).")),
      write_drops(r.counter("shardlm_kv_disk_write_drops_total", "Offloads dropped because the writer was behind.")),
      disk_errors(r.counter("shardlm_kv_disk_errors_total", "Disk tier I/O errors (rank 0).")),
      bad_files(r.counter("shardlm_kv_disk_bad_files_total", "Truncated, corrupt or foreign block files deleted (rank 0).")),
      disk_blocks(r.gauge("shardlm_kv_disk_blocks", "KV block files held by rank 0's disk tier.")),
      disk_bytes(r.gauge("shardlm_kv_disk_bytes", "Bytes of KV block files held by rank 0's disk tier.")),
      session_hits(r.counter("shardlm_session_hits_total", "Session turns that reused the session's pinned blocks.")),
      pinned_bytes(r.gauge("shardlm_session_pinned_bytes", "KV bytes pinned by sticky sessions, all ranks.")),
      sessions(r.gauge("shardlm_sessions", "Sticky sessions known.")) {}

metrics::Counter& ShardlmMetrics::requests_finished(std::string_view reason) {
  for (size_t i = 0; i < kFinishReasons.size(); ++i)
    if (kFinishReasons[i] == reason) return *finished_[i];
  return registry.counter(kFinishedName, kFinishedHelp, {{"reason", std::string(reason)}});
}

metrics::Counter& ShardlmMetrics::requests(std::string_view endpoint) {
  return registry.counter("shardlm_requests_total", "Requests received, by endpoint.",
                          {{"endpoint", std::string(endpoint)}});
}

metrics::Counter& ShardlmMetrics::http_responses(int code) {
  return registry.counter("shardlm_http_responses_total", "HTTP responses sent, by status code.",
                          {{"code", std::to_string(code)}});
}

metrics::Gauge& ShardlmMetrics::rank_resident_bytes(int rank) {
  return registry.gauge("shardlm_rank_resident_bytes", "Resident memory of each rank.",
                        {{"rank", std::to_string(rank)}});
}

void ShardlmMetrics::set_kv_blocks(int64_t used, int64_t capacity) {
  kv_blocks_capacity.set(static_cast<double>(capacity));
  kv_blocks_used.set(static_cast<double>(used));
  kv_usage_ratio.set(capacity > 0 ? static_cast<double>(used) / static_cast<double>(capacity) : 0.0);
}

void ShardlmMetrics::observe_step(double step_seconds, double collective_seconds) {
  steps_total.inc();
  collective_seconds_total.inc(collective_seconds);
  step_duration_seconds.observe(step_seconds);
}

}  // namespace shardlm
