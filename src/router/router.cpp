#include "shardlm/router/router.h"

#include <chrono>

#include "router/router-core.h"
#include "shardlm/core/log.h"

namespace shardlm::router {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

RouterMetrics::RouterMetrics(metrics::Registry& r)
    : reg(r),
      requests(r.counter("shardlm_router_requests_total", "requests the router proxied")),
      retries(r.counter("shardlm_router_retries_total", "retries on another backend before any byte reached the client")),
      migrations(r.counter("shardlm_router_migrations_total", "streams moved to another backend after they began")),
      migrations_failed(r.counter("shardlm_router_migrations_failed_total", "broken streams that could not move (limit, no backend, no token ids)")),
      no_workers(r.counter("shardlm_router_no_workers_total", "requests answered 503 no_workers_available")),
      all_full(r.counter("shardlm_router_all_full_total", "requests answered 429 because every backend was full")),
      cancelled(r.counter("shardlm_router_client_cancels_total", "requests whose client left before the end")),
      sticky_hits(r.counter("shardlm_router_session_hits_total", "requests sent to their session's backend")),
      prefix_routed(r.counter("shardlm_router_prefix_routed_total", "requests placed by their prompt prefix")),
      prewarms(r.counter("shardlm_router_prewarms_total", "warm-ups sent to (re)appearing backends")),
      inflight(r.gauge("shardlm_router_inflight_requests", "upstream calls in progress")),
      upstream_first_byte(r.histogram("shardlm_router_first_byte_seconds", "from the upstream call to its response header",
                                      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30})) {}

metrics::Counter& RouterMetrics::responses(int status) {
  return reg.counter("shardlm_router_responses_total", "answers to clients by HTTP status", {{"code", std::to_string(status)}});
}
metrics::Counter& RouterMetrics::backend_requests(const std::string& b) {
  return reg.counter("shardlm_router_backend_requests_total", "upstream calls per backend", {{"backend", b}});
}
metrics::Counter& RouterMetrics::backend_failures(const std::string& b) {
  return reg.counter("shardlm_router_backend_failures_total", "failed upstream calls per backend", {{"backend", b}});
}
metrics::Counter& RouterMetrics::breaker_opens(const std::string& b) {
  return reg.counter("shardlm_router_breaker_opens_total", "times a backend's circuit breaker opened", {{"backend", b}});
}

RouterCore::RouterCore(RouterOptions o)
    : opt(std::move(o)), sessions(opt.session_ttl_s, opt.max_sessions), budget(opt.retry, now_s()) {}

Router::Router(RouterOptions o) : core_(std::make_shared<RouterCore>(std::move(o))) {}
Router::~Router() { stop(); }

Status Router::start() {
  RouterCore& c = *core_;
  std::vector<std::string> urls = c.opt.backends;
  if (!c.opt.backends_file.empty()) {
    auto f = read_backends_file(c.opt.backends_file);
    if (!f) return f.status();
    for (const auto& u : f.value())
      if (std::find(urls.begin(), urls.end(), u) == urls.end()) urls.push_back(u);
  }
  SHARDLM_TRY(c.set_backends(urls));
  c.add_routes();
  c.health_thread = std::thread([&c] { c.health_loop(); });
  Status st = c.server.start(c.opt.http);
  if (!st) {
    stop();
    return st;
  }
  return Status::ok();
}

int Router::drain(double timeout_s) {
  RouterCore& c = *core_;
  c.server.stop_accepting();
  std::unique_lock<std::mutex> lk(c.proxy_mu);
  c.draining = true;
  LOG_INFO("router: draining: {} request(s) in flight, up to {} s", c.proxies, timeout_s);
  c.proxy_cv.wait_for(lk, std::chrono::duration<double>(timeout_s), [&] { return c.proxies == 0; });
  if (c.proxies > 0) LOG_WARN("router: {} request(s) still in flight after {} s of draining; they are cut", c.proxies, timeout_s);
  else LOG_INFO("router: drained");
  return c.proxies;
}

void Router::stop() {
  RouterCore& c = *core_;
  c.server.stop();  // closes client connections: their sinks cancel the upstream calls
  {
    std::lock_guard<std::mutex> lk(c.health_mu);
    c.stopping = true;
  }
  c.health_cv.notify_all();
  if (c.health_thread.joinable()) c.health_thread.join();
  std::unique_lock<std::mutex> lk(c.proxy_mu);
  c.proxy_cv.wait_for(lk, std::chrono::seconds(30), [&] { return c.proxies == 0; });
}

Status Router::reload() { return core_->reload(); }
int Router::bound_port() const { return core_->server.bound_port(); }

}  // namespace shardlm::router
