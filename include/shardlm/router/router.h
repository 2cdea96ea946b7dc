// Router: `shardlm router`, one process (Boost.Beast, no MPI) in front of several
// replicas (`shardlm serve` groups). It proxies the OpenAI routes unchanged (JSON and
// SSE streamed through as they arrive; a client that disconnects cancels the upstream
// call), merges /v1/models, and answers its own /health, /admin/status,
// /admin/backends and /metrics.
//
// Choice of backend per request (src/router/pool.cpp): among up backends with an
// available breaker that are not full: the session's backend (session_id / X-Session-ID,
// SessionRegistry), else a prefix-hash choice under a load bound when the prompt is long
// enough, else the least loaded. Failures before the first byte reached the client are
// retried on another backend (RetryOptions: per request and a shared budget, jittered
// backoff); a stream whose backend fails after it began moves to another one
// (StreamRelay, --migration-limit). Nothing up → 503 code no_workers_available; every
// candidate full → 429 with Retry-After.
//
// Stopping (SIGTERM): drain() first, then stop().
//
// Threads: the HTTP server's io threads (routes, never blocking), one thread per proxied
// request (the upstream call is a synchronous HttpClient), and the health thread.
#pragma once
#include <memory>

#include "shardlm/core/status.h"
#include "shardlm/router/router-options.h"

namespace shardlm::router {

struct RouterCore;  // src/router/router-core.h

class Router {
 public:
  explicit Router(RouterOptions o);
  ~Router();  // stop()
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Reads the backends, starts the health thread and the HTTP server.
  Status start();
  // Graceful drain: closes the listener, answers new requests on open connections 503
  // (code shutting_down) and /health 503, and waits up to timeout_s for the requests in
  // flight to finish. Returns how many were still in flight at the end (0: all done).
  int drain(double timeout_s);
  // Stops accepting, cancels upstream calls, joins every thread. Idempotent.
  void stop();
  // Rereads --backends FILE (a no-op without one); kept backends keep their state.
  Status reload();
  int bound_port() const;

 private:
  std::shared_ptr<RouterCore> core_;
};

}  // namespace shardlm::router
