#include "shardlm/router/retry.h"

#include <algorithm>
#include <cmath>

namespace shardlm::router {

double backoff_delay(const RetryOptions& o, int retry, double u) {
  if (retry < 1) retry = 1;
  const double exp = o.backoff_base_s * std::ldexp(1.0, std::min(retry - 1, 30));
  const double d = std::min(exp, o.backoff_max_s);
  u = std::clamp(u, 0.0, 1.0);
  return d * (0.5 + 0.5 * u);
}

RetryBudget::RetryBudget(RetryOptions o, double now) : o_(o), tokens_(o.cap), last_(now) {}

void RetryBudget::refill(double now) {
  if (now > last_) {
    tokens_ = std::min(o_.cap, tokens_ + (now - last_) * o_.min_per_s);
    last_ = now;
  }
}

void RetryBudget::on_request(double now) {
  std::lock_guard<std::mutex> lk(mu_);
  refill(now);
  tokens_ = std::min(o_.cap, tokens_ + o_.ratio);
}

bool RetryBudget::try_spend(double now) {
  std::lock_guard<std::mutex> lk(mu_);
  refill(now);
  if (tokens_ < 1.0 - 1e-9) return false;  // 10 × 0.1 is a hair under 1 in binary
  tokens_ = std::max(0.0, tokens_ - 1.0);
  return true;
}

double RetryBudget::tokens(double now) {
  std::lock_guard<std::mutex> lk(mu_);
  refill(now);
  return tokens_;
}

}  // namespace shardlm::router
