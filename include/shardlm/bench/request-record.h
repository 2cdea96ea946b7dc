// RequestRecord: what one benchmark request did, with the five required metrics.
//
// Definitions (times from steady_clock; "send" = just before the request is written,
// so connecting is not counted; a token chunk = a streamed chunk carrying text):
//   ttft_s           = first token chunk - send
//   prefill_time_s   = ttft_s
//   prefill_tok_s    = prompt_tokens / prefill_time_s   (cached prompt tokens included)
//   decode_time_s    = last token - first token chunk; the last token is the chunk
//                      with finish_reason (the server sends it when the last token is
//                      sampled), else the last token chunk
//   decode_tok_s     = (completion_tokens - 1) / decode_time_s
//   throughput_tok_s = completion_tokens / (last token - send)
//   inter-token latency = gaps between successive token chunks
// Token counts come from usage (stream_options.include_usage); streamed_chunks is the
// cross-check (<= completion_tokens: a token that adds no text sends no chunk).
// A request that succeeded but lacks any of the five (not streamed, usage missing,
// fewer than 2 completion tokens, a zero interval) is marked invalid with the reason.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace shardlm::bench {

// Generation parameters sent with each request (identity hash input).
struct GenParams {
  std::string endpoint = "completions";  // "completions" or "chat" (/v1/chat/completions)
  int max_tokens = 64;                   // default 64
  double temperature = 0;                // default 0 (greedy)
  bool ignore_eos = true;                // fixed decode lengths (default true)
  bool stream = true;                    // SSE with include_usage (default true)
  std::optional<int64_t> seed;           // sampling seed (default none)
  std::string session_id;                // sticky session, the body's session_id (default "" = none)
  // Canonical JSON (sorted keys) of these fields.
  nlohmann::json to_json() const;
};

// The five metrics, in this order everywhere (files, reports).
inline constexpr const char* kFiveMetrics[5] = {"prefill_time_s", "prefill_tok_s", "decode_time_s", "decode_tok_s",
                                                "throughput_tok_s"};
// True for metrics where smaller is better (times); false for tok/s.
bool metric_lower_is_better(std::string_view metric);

struct RequestRecord {
  size_t index = 0;          // position in the run
  std::string case_name;     // scenario case ("k=4", "cold", ...)
  std::string identity;      // identity_hash(prompt, params), 16 hex digits
  std::string endpoint;      // "completions" / "chat"
  bool stream = true;
  size_t prompt_chars = 0;   // prompt bytes
  int http_status = 0;       // 0 = no response (transport error)
  std::string error;         // why it failed ("" when ok)
  std::string retry_after;   // Retry-After header of a non-200 answer ("" = none)
  bool ok = false;           // 200 and complete (usage; [DONE] when streamed)
  double scheduled_s = 0;    // open loop: when it was due (s since run start)
  double send_s = 0;         // s since run start
  double total_s = 0;        // send → response complete
  std::vector<double> token_times_s;   // send → each token chunk
  std::optional<double> last_token_s;  // send → last token (see above)
  int prompt_tokens = -1, completion_tokens = -1, cached_tokens = -1;  // usage; -1 = absent
  int streamed_chunks = 0;   // token chunks seen
  std::string finish_reason;
  std::string text;          // the generated text (for multi-turn scenarios; not in requests.jsonl)
  // The five metrics (absent when not measurable).
  std::optional<double> prefill_time_s, prefill_tok_s, decode_time_s, decode_tok_s, throughput_tok_s;
  bool valid = false;        // ok and all five present, finite and > 0
  std::string invalid_reason;

  std::optional<double> ttft_s() const { return prefill_time_s; }
  std::optional<double> metric(std::string_view name) const;
};

// Fills the five metrics, valid and invalid_reason from the raw fields.
void compute_metrics(RequestRecord& r);
// Gaps between successive token chunks (s).
std::vector<double> itl_gaps(const RequestRecord& r);
// FNV-1a 64 over the prompt bytes, a 0 byte, and params' canonical JSON; 16 hex digits.
std::string identity_hash(std::string_view prompt, const nlohmann::json& params);
uint64_t fnv1a64(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ull);
// One line of requests.jsonl.
nlohmann::json record_to_json(const RequestRecord& r);

}  // namespace shardlm::bench
