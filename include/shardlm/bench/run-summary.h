// summary.json of a run: aggregates of its request records, overall and per case.
//
// {"requests", "succeeded", "success_rate", "valid_requests", "invalid_requests",
//  "invalid_reasons": {reason: n}, "http_status_counts": {"200": n, "429": n,
//  "transport_error": n}, "wall_s", "aggregate_throughput_tok_s" (completion tokens of
//  successful requests / wall_s), "tokens": {"prompt","completion","cached"},
//  "metrics": {five metric names: summary over valid requests}, "ttft_s", "itl_s"
//  (all gaps of all valid requests), "e2e_s" (send → complete, successful requests)}
// Summaries are stats.h's {"n","mean","sd","min","max","p50","p95","p99"}.
#pragma once
#include <vector>

#include <nlohmann/json.hpp>

#include "shardlm/bench/request-record.h"

namespace shardlm::bench {

nlohmann::json summarize_records(const std::vector<RequestRecord>& records, double wall_s);
// Problems with a summary as sentences ("" list = fine): a missing or non-positive
// metric mean, unordered percentiles. Checks only what a summary with valid requests
// must have; used by scenarios before they report success.
std::vector<std::string> summary_problems(const nlohmann::json& summary);

}  // namespace shardlm::bench
