// Backend: one replica (a `shardlm serve` group) as the router sees it: where it is, its
// health state, its circuit breaker, what it reported about its load, and counters.
//
// State: unknown (just added) → up (its /health answered 200; with pre-warming, after a
// warm-up generation in state warming) → down (a failed check, or a refused connection
// seen by the proxy) → up again the same way. Only up backends whose breaker is
// available and which are not full (they answered 429 within their Retry-After) get
// traffic.
//
// Threads: the health thread and proxy threads share it; `mu` guards the fields below
// it, the counters are atomics.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shardlm/client/http-client.h"
#include "shardlm/core/status.h"
#include "shardlm/router/breaker.h"

namespace shardlm::router {

enum class BackendState { unknown, warming, up, down };
const char* backend_state_name(BackendState s);

// What /admin/status last said (requests.active, requests.waiting, kv_cache).
struct BackendLoad {
  bool known = false;
  int running = 0;
  int waiting = 0;
  double kv_used = 0;  // blocks_used / blocks_total, 0..1
};

// A full KV cache weighs as much as this many requests in the load score.
inline constexpr double kKvLoadWeight = 4.0;
// Passive signals from the router's own calls: the share of recent calls that failed
// as an exponential moving average (weight of the newest outcome: kPassiveAlpha) that
// also fades with time (half-life kPassiveHalfLifeS, so a backend that got no traffic
// after its failures is tried again), weighing up to kErrorLoadWeight requests in the
// load score; and the streams' time to first byte (EWMA), reported only: it follows
// the prompt lengths a backend happens to get (prefix routing sends a prefix's long
// prompts to one backend), so it would move traffic for the wrong reason.
inline constexpr double kPassiveAlpha = 0.2;
inline constexpr double kPassiveHalfLifeS = 10.0;
inline constexpr double kErrorLoadWeight = 4.0;

// What the router learnt from its own calls to a backend (under Backend::mu).
struct PassiveSignals {
  double error_ewma = 0;        // 0..1 at error_at: recent share of failed calls
  double error_at = 0;          // router clock of the latest outcome
  double first_byte_ewma = -1;  // seconds from a stream's call to its response header (-1: none yet)
  void on_outcome(bool ok, double first_byte_s, double now);  // first_byte_s < 0: none to count
  double error(double now) const;  // error_ewma faded to now
};

class Backend {
 public:
  Backend(std::string name, client::Url url, const BreakerOptions& bo) : name(std::move(name)), url(std::move(url)), breaker(bo) {}

  const std::string name;  // the URL as configured: its identity in reloads, sessions, metrics
  const client::Url url;

  std::mutex mu;  // guards the fields up to the counters
  BackendState state = BackendState::unknown;
  CircuitBreaker breaker;
  BackendLoad load;
  PassiveSignals passive;
  double full_until = 0;          // answered 429: no new requests before this time
  std::string last_error;         // the latest failure, for /admin/status
  double last_check = 0;          // when the health thread last looked (router clock)
  double last_up = 0;             // when it last became up
  double warmup_s = -1;           // how long its latest warm-up took (-1: none yet)
  nlohmann::json models = nlohmann::json::array();  // its /v1/models "data"
  bool removed = false;           // dropped by a reload: finishes its requests, gets no new ones

  std::atomic<int> inflight{0};   // requests the router has open to it
  std::atomic<uint64_t> requests{0}, failures{0}, health_failures{0}, migrated_from{0};

  // The load score at router time now (under mu): max(router in-flight, its running) +
  // its waiting + KV pressure + the passive error term.
  double score(double now) const;
  nlohmann::json status_json(double now) const;  // under mu
};

// One URL a line; blank lines and '#' comments skipped; every line must parse.
Result<std::vector<std::string>> read_backends_file(const std::string& path);

}  // namespace shardlm::router
