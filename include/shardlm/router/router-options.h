// RouterOptions: everything `shardlm router` is configured with (one struct; each
// default written once, here). Flag names in the comments.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "shardlm/http/server.h"
#include "shardlm/router/breaker.h"
#include "shardlm/router/retry.h"

namespace shardlm::router {

struct RouterOptions {
  // --host (127.0.0.1), --port (8080), --api-key, --admin-key, --http-threads, --body-limit,
  // --header-timeout-s, --http-idle-timeout-s, --max-connections...: as `serve` has them.
  http::HttpServerConfig http;
  std::vector<std::string> backends;  // --backend URL (repeatable)
  std::string backends_file;          // --backends FILE: one URL a line; reread on SIGHUP and POST /admin/backends
  std::string backend_api_key;        // --backend-api-key: the Bearer key sent to the backends ("" = none)
  std::string backend_admin_key;      // --backend-admin-key: for their /admin/status ("" = --backend-api-key)

  double request_timeout_s = 0;       // --request-timeout-s: whole deadline of one upstream call (0 = none)
  double first_token_timeout_s = 60;  // --first-token-timeout-s: response header (first byte) deadline; later → retry
  double health_interval_s = 1;       // --health-interval-s: active checks of each backend
  double health_timeout_s = 2;        // --health-timeout-s: deadline of one check

  BreakerOptions breaker;             // --breaker-failures, --breaker-error-rate, --breaker-window-s, --breaker-cooldown-s
  RetryOptions retry;                 // --retry-budget, --retry-backoff-s

  double session_ttl_s = 600;         // --session-ttl-s: a sticky session lives this long after its last use
  size_t max_sessions = 100000;       // --max-sessions: least recently used ones go first
  size_t prefix_block_bytes = 64;     // --prefix-block-bytes: prompt bytes per prefix block (0 = no prefix routing)
  size_t prefix_blocks = 4;           // --prefix-blocks: blocks hashed for the prefix key
  double prefix_load_factor = 1.25;   // --prefix-load-factor: bound on a prefix's backend, × the mean load

  int migration_limit = 1;            // --migration-limit: backends a stream may move to after it began (0 = off)
  bool prewarm = true;                // --no-prewarm: send traffic to a (re)appearing backend without a warm-up
  int max_inflight = 1024;            // --max-inflight: requests the router proxies at once (429 past it)
  double drain_timeout_s = 30;        // --drain-timeout-s: on SIGTERM, how long in-flight requests may finish
  std::string pid_file;               // --pid-file
};

}  // namespace shardlm::router
