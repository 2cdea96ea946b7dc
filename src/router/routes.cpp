// The router's own routes (/health, /admin/status, /admin/backends, /metrics,
// /v1/models) and the proxied OpenAI routes.
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "router/router-core.h"
#include "shardlm/core/log.h"
#include "shardlm/http/openai-response.h"

namespace shardlm::router {

using nlohmann::json;
using http::ApiError;
using http::HttpRequest;
using http::ResponseSink;

namespace {

json status_json(RouterCore& c) {
  const double now = now_s();
  json bs = json::array();
  int up = 0;
  for (const auto& b : c.snapshot()) {
    std::lock_guard<std::mutex> lk(b->mu);
    json j = b->status_json(now);
    j["sessions"] = c.sessions.size(now, b->name);
    up += b->state == BackendState::up;
    bs.push_back(std::move(j));
  }
  return {{"status", up > 0 ? "ok" : "no_backends"},
          {"backends_up", up},
          {"backends", bs},
          {"sessions", c.sessions.size(now)},
          {"in_flight", static_cast<int64_t>(c.m.inflight.value())},
          {"retry_budget_tokens", c.budget.tokens(now)},
          {"migration_limit", c.opt.migration_limit},
          {"prewarm", c.opt.prewarm}};
}

// Per-backend gauges, refreshed when /metrics is read.
void update_gauges(RouterCore& c) {
  const double now = now_s();
  for (const auto& b : c.snapshot()) {
    std::lock_guard<std::mutex> lk(b->mu);
    const metrics::Labels l{{"backend", b->name}};
    c.registry.gauge("shardlm_router_backend_up", "1 when the backend takes traffic (state up)", l)
        .set(b->state == BackendState::up ? 1 : 0);
    c.registry.gauge("shardlm_router_backend_breaker_open", "1 while the backend's circuit breaker is open or half-open", l)
        .set(b->breaker.state() == BreakerState::closed ? 0 : 1);
    c.registry.gauge("shardlm_router_backend_inflight", "requests the router has open to the backend", l).set(b->inflight.load());
    c.registry.gauge("shardlm_router_backend_waiting", "requests waiting at the backend (its /admin/status)", l)
        .set(b->load.known ? b->load.waiting : 0);
    c.registry.gauge("shardlm_router_backend_kv_used_ratio", "the backend's KV blocks in use / total", l).set(b->load.kv_used);
    c.registry.gauge("shardlm_router_backend_sessions", "sticky sessions held by the backend", l).set(c.sessions.size(now, b->name));
  }
  c.registry.gauge("shardlm_router_sessions", "sticky sessions known").set(c.sessions.size(now));
}

std::string models_json(RouterCore& c) {
  json data = json::array();
  std::set<std::string> seen;
  for (const auto& b : c.snapshot()) {
    std::lock_guard<std::mutex> lk(b->mu);
    if (b->state != BackendState::up) continue;
    for (const auto& mdl : b->models)
      if (mdl.is_object() && mdl.contains("id") && seen.insert(mdl["id"].dump()).second) data.push_back(mdl);
  }
  return json{{"object", "list"}, {"data", data}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

void admin_backends(RouterCore& c, const HttpRequest& req, const std::shared_ptr<ResponseSink>& sink) {
  Status st;
  json j = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (!j.is_object()) return (void)sink->send_error(http::bad_request("the body must be a JSON object"));
  if (j.contains("backends")) {
    if (!j["backends"].is_array()) return (void)sink->send_error(http::bad_request("backends must be an array of URLs", "backends"));
    std::vector<std::string> urls;
    for (const auto& u : j["backends"]) {
      if (!u.is_string()) return (void)sink->send_error(http::bad_request("backends must be an array of URLs", "backends"));
      urls.push_back(u.get<std::string>());
    }
    st = c.set_backends(urls);
  } else {
    st = c.reload();
  }
  if (!st) return (void)sink->send_error(http::bad_request(st.message(), "backends"));
  json names = json::array();
  for (const auto& b : c.snapshot()) names.push_back(b->name);
  sink->send_json(200, json{{"status", "ok"}, {"backends", names}}.dump());
}

}  // namespace

void RouterCore::add_routes() {
  RouterCore* c = this;
  server.route("GET", "/health", [c](const HttpRequest&, std::shared_ptr<ResponseSink> sink) {
    bool draining = false;
    {
      std::lock_guard<std::mutex> lk(c->proxy_mu);
      draining = c->draining;
    }
    if (draining)
      return (void)sink->send_json(503, json{{"status", "draining"}}.dump(), http::HttpHeaders{{"Retry-After", "1"}});
    int up = 0, total = 0;
    for (const auto& b : c->snapshot()) {
      std::lock_guard<std::mutex> lk(b->mu);
      ++total;
      up += b->state == BackendState::up;
    }
    const bool ok = up > 0;
    sink->send_json(ok ? 200 : 503, json{{"status", ok ? "ok" : "no_backends"}, {"backends_up", up}, {"backends", total}}.dump(),
                    ok ? http::HttpHeaders{} : http::HttpHeaders{{"Retry-After", "1"}});
  });
  server.route("GET", "/admin/status", [c](const HttpRequest&, std::shared_ptr<ResponseSink> sink) {
    sink->send_json(200, status_json(*c).dump(-1, ' ', false, json::error_handler_t::replace));
  }, true);
  server.route("POST", "/admin/backends", [c](const HttpRequest& req, std::shared_ptr<ResponseSink> sink) {
    admin_backends(*c, req, sink);
  }, true);
  server.route("GET", "/metrics", [c](const HttpRequest&, std::shared_ptr<ResponseSink> sink) {
    update_gauges(*c);
    sink->send(200, metrics::kContentType, c->registry.render());
  });
  server.route("GET", "/v1/models", [c](const HttpRequest&, std::shared_ptr<ResponseSink> sink) {
    sink->send_json(200, models_json(*c));
  });
  auto proxied = [c](const HttpRequest& req, std::shared_ptr<ResponseSink> sink) {
    {
      std::lock_guard<std::mutex> lk(c->proxy_mu);
      if (c->draining) {
        c->m.responses(503).inc();
        ApiError e = http::service_unavailable("the router is shutting down; retry on another endpoint", 1);
        e.code = "shutting_down";
        return (void)sink->send_error(e);
      }
      if (c->proxies >= c->opt.max_inflight) {
        c->m.responses(429).inc();
        return (void)sink->send_error(http::too_many_requests(1, "the router has --max-inflight requests open; retry later"));
      }
      ++c->proxies;
    }
    // The upstream call blocks: it gets its own thread. Nothing may throw out of it.
    std::thread([c, keep = c->shared_from_this(), req, sink]() mutable {
      try {
        c->proxy(req, std::move(sink));
      } catch (const std::exception& e) {
        LOG_ERROR("router: {} {}: {}", req.method, req.target, e.what());
      }
      std::lock_guard<std::mutex> lk(c->proxy_mu);
      --c->proxies;
      c->proxy_cv.notify_all();
    }).detach();
  };
  server.route("POST", "/v1/completions", proxied);
  server.route("POST", "/v1/chat/completions", proxied);
  server.route("POST", "/apply-template", proxied);
}

}  // namespace shardlm::router
