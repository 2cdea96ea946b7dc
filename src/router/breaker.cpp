#include "shardlm/router/breaker.h"

namespace shardlm::router {

const char* breaker_state_name(BreakerState s) {
  switch (s) {
    case BreakerState::closed: return "closed";
    case BreakerState::open: return "open";
    case BreakerState::half_open: return "half_open";
  }
  return "closed";
}

bool CircuitBreaker::available(double now) const {
  switch (state_) {
    case BreakerState::closed: return true;
    case BreakerState::open: return now >= opened_at_ + o_.cooldown_s;
    case BreakerState::half_open: return !probe_out_;
  }
  return false;
}

bool CircuitBreaker::allow(double now) {
  if (state_ == BreakerState::closed) return true;
  if (state_ == BreakerState::open) {
    if (now < opened_at_ + o_.cooldown_s) return false;
    state_ = BreakerState::half_open;
    probe_out_ = false;
  }
  if (probe_out_) return false;
  probe_out_ = true;
  return true;
}

void CircuitBreaker::release_probe() { probe_out_ = false; }

void CircuitBreaker::prune(double now) {
  while (!window_.empty() && window_.front().t < now - o_.window_s) {
    if (!window_.front().ok) --window_failures_;
    window_.pop_front();
  }
}

void CircuitBreaker::trip(double now) {
  state_ = BreakerState::open;
  opened_at_ = now;
  probe_out_ = false;
  ++opened_;
  window_.clear();
  window_failures_ = 0;
}

void CircuitBreaker::on_success(double now) {
  consecutive_ = 0;
  if (state_ != BreakerState::closed) {  // the probe (or a late answer) succeeded
    state_ = BreakerState::closed;
    probe_out_ = false;
    window_.clear();
    window_failures_ = 0;
    return;
  }
  prune(now);
  window_.push_back({now, true});
}

void CircuitBreaker::on_failure(double now) {
  ++consecutive_;
  if (state_ == BreakerState::half_open) return trip(now);
  if (state_ == BreakerState::open) return;  // a late failure of a request sent before it opened
  prune(now);
  window_.push_back({now, false});
  ++window_failures_;
  const bool streak = o_.consecutive_failures > 0 && consecutive_ >= o_.consecutive_failures;
  const int n = static_cast<int>(window_.size());
  const bool rate = o_.error_rate > 0 && n >= o_.window_min_requests &&
                    static_cast<double>(window_failures_) >= o_.error_rate * n;
  if (streak || rate) trip(now);
}

}  // namespace shardlm::router
