// CircuitBreaker: per backend, whether the router may send it traffic.
//
//   closed ──(consecutive_failures in a row, or error_rate over window_s with at least
//             window_min_requests outcomes)──▶ open
//   open ──(cooldown_s passed; the next allow() takes the one probe)──▶ half_open
//   half_open ──probe succeeds──▶ closed      half_open ──probe fails──▶ open (cool-down again)
//
// Time is passed in (seconds on any monotonic clock), so the state machine is a pure value
// that tests drive without sleeping. Not thread-safe: the owner (a Backend) locks it.
#pragma once
#include <cstdint>
#include <deque>
#include <string>

namespace shardlm::router {

struct BreakerOptions {
  int consecutive_failures = 3;   // --breaker-failures: failures in a row that open it
  double error_rate = 0.5;        // --breaker-error-rate: failure share over the window that opens it (0 = off)
  int window_min_requests = 10;   // outcomes the window needs before error_rate counts
  double window_s = 30;           // --breaker-window-s
  double cooldown_s = 5;          // --breaker-cooldown-s: open this long before a half-open probe
};

enum class BreakerState { closed, open, half_open };
const char* breaker_state_name(BreakerState s);

class CircuitBreaker {
 public:
  explicit CircuitBreaker(BreakerOptions o = {}) : o_(o) {}

  // Could a request go now? (No state change: for choosing among backends.)
  bool available(double now) const;
  // Take the right to send one request now: true when closed, or when this call is the
  // half-open probe (open past its cool-down, or half-open with no probe out).
  bool allow(double now);
  // The outcome of a request allow() let through. A half-open probe decides the state.
  void on_success(double now);
  void on_failure(double now);
  // The probe allow() granted was not sent after all: the next allow() may probe.
  void release_probe();

  BreakerState state() const { return state_; }
  uint64_t opened() const { return opened_; }  // times it opened
  int consecutive() const { return consecutive_; }

 private:
  void trip(double now);
  void prune(double now);

  BreakerOptions o_;
  BreakerState state_ = BreakerState::closed;
  double opened_at_ = 0;
  bool probe_out_ = false;
  int consecutive_ = 0;
  uint64_t opened_ = 0;
  struct Outcome {
    double t;
    bool ok;
  };
  std::deque<Outcome> window_;
  int window_failures_ = 0;
};

}  // namespace shardlm::router
