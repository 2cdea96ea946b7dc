// What the router's parts share (private to src/router): options, backends, sessions,
// retry budget, metrics, the health thread and the proxy threads' bookkeeping.
#pragma once
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "shardlm/http/server.h"
#include "shardlm/metrics/registry.h"
#include "shardlm/router/backend.h"
#include "shardlm/router/retry.h"
#include "shardlm/router/router-options.h"
#include "shardlm/router/session-registry.h"

namespace shardlm::router {

double now_s();  // the router's monotonic clock, seconds

// The outcome of choosing a backend.
struct Choice {
  std::shared_ptr<Backend> backend;  // null: none may take it
  bool all_full = false;             // some are up but every one is full
  int retry_after_s = 1;
};

struct RouterMetrics {
  explicit RouterMetrics(metrics::Registry& r);
  metrics::Registry& reg;
  metrics::Counter& requests;           // shardlm_router_requests_total
  metrics::Counter& retries;            // shardlm_router_retries_total
  metrics::Counter& migrations;         // shardlm_router_migrations_total
  metrics::Counter& migrations_failed;  // shardlm_router_migrations_failed_total
  metrics::Counter& no_workers;         // shardlm_router_no_workers_total (503 no_workers_available)
  metrics::Counter& all_full;           // shardlm_router_all_full_total (429)
  metrics::Counter& cancelled;          // shardlm_router_client_cancels_total
  metrics::Counter& sticky_hits;        // shardlm_router_session_hits_total
  metrics::Counter& prefix_routed;      // shardlm_router_prefix_routed_total
  metrics::Counter& prewarms;           // shardlm_router_prewarms_total
  metrics::Gauge& inflight;             // shardlm_router_inflight_requests
  metrics::Histogram& upstream_first_byte;  // shardlm_router_first_byte_seconds
  metrics::Counter& responses(int status);  // shardlm_router_responses_total{code}
  metrics::Counter& backend_requests(const std::string& b);  // shardlm_router_backend_requests_total{backend}
  metrics::Counter& backend_failures(const std::string& b);  // shardlm_router_backend_failures_total{backend}
  metrics::Counter& breaker_opens(const std::string& b);     // shardlm_router_breaker_opens_total{backend}
};

struct RouterCore : std::enable_shared_from_this<RouterCore> {
  explicit RouterCore(RouterOptions o);

  const RouterOptions opt;
  metrics::Registry registry;
  RouterMetrics m{registry};
  SessionRegistry sessions;
  RetryBudget budget;
  http::HttpServer server;

  std::mutex pool_mu;  // guards backends (the list; each Backend has its own lock)
  std::vector<std::shared_ptr<Backend>> backends;

  // Health thread.
  std::mutex health_mu;
  std::condition_variable health_cv;
  bool stopping = false;
  bool check_now = false;  // a reload asks for a round at once
  std::thread health_thread;

  // Proxy threads (one per request in flight).
  std::mutex proxy_mu;
  std::condition_variable proxy_cv;
  int proxies = 0;
  bool draining = false;  // under proxy_mu: Router::drain() began; new requests get 503

  // --- pool.cpp
  Status set_backends(const std::vector<std::string>& urls);  // keeps known ones
  Status reload();
  std::vector<std::shared_ptr<Backend>> snapshot();
  // A backend for a request: sticky session, prefix, least load; never one in `exclude`.
  // Claims the breaker (half-open probe) of the one returned.
  Choice choose(const std::string& session, uint64_t phash, const std::vector<std::string>& exclude);
  void mark_down(Backend& b, const std::string& why);  // under b.mu

  // --- health.cpp
  void health_loop();
  void check(const std::shared_ptr<Backend>& b);

  // --- proxy.cpp
  void proxy(const http::HttpRequest& req, std::shared_ptr<http::ResponseSink> sink);

  // --- routes.cpp
  void add_routes();
};

}  // namespace shardlm::router
