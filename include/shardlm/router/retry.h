// Retries of a request that failed before any byte reached the client: how often (a
// per-request limit and a router-wide budget) and how long to wait before the next try.
//
// The budget is a token bucket shared by all requests: each request adds `ratio` tokens,
// time adds `min_per_s` per second, a retry takes one, and the bucket holds at most
// `cap` (and starts full). So retries stay a bounded share of the traffic when every backend fails (no
// retry storm) while a few retries always get through. Time is passed in (seconds);
// RetryBudget is thread-safe.
#pragma once
#include <mutex>

namespace shardlm::router {

struct RetryOptions {
  int max_retries = 2;          // --retry-budget: further backends one request may try
  double backoff_base_s = 0.02; // --retry-backoff-s: first wait; doubles per retry
  double backoff_max_s = 1.0;   // the longest wait
  double ratio = 0.2;           // budget tokens per request
  double min_per_s = 5;         // budget tokens per second
  double cap = 50;              // most tokens in the bucket
};

// Wait before retry number `retry` (1 = the first): base·2^(retry-1), capped at max,
// scaled by a jitter factor in [0.5, 1) from u in [0, 1) ("equal jitter").
double backoff_delay(const RetryOptions& o, int retry, double u);

class RetryBudget {
 public:
  RetryBudget(RetryOptions o, double now);
  void on_request(double now);  // one new request (adds ratio)
  bool try_spend(double now);   // take one retry token; false = no budget left
  double tokens(double now);

 private:
  void refill(double now);
  const RetryOptions o_;
  std::mutex mu_;
  double tokens_;
  double last_;
};

}  // namespace shardlm::router
