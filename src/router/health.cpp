// Active health checks: each backend's /health, then its /admin/status (load) and
// /v1/models; a backend that (re)appears is warmed up before it gets traffic.
#include <nlohmann/json.hpp>

#include "router/router-core.h"
#include "shardlm/core/log.h"

namespace shardlm::router {

using nlohmann::json;

namespace {

std::string admin_key(const RouterOptions& o) {
  return o.backend_admin_key.empty() ? o.backend_api_key : o.backend_admin_key;
}

// requests.active / waiting and kv_cache.blocks_used / blocks_total of /admin/status.
BackendLoad parse_load(const std::string& body) {
  BackendLoad l;
  json j = json::parse(body, nullptr, false);
  if (!j.is_object()) return l;
  const json& r = j.value("requests", json::object());
  const json& kv = j.value("kv_cache", json::object());
  if (!r.is_object() || !kv.is_object()) return l;
  l.running = r.value("active", 0);
  l.waiting = r.value("waiting", 0);
  const double total = kv.value("blocks_total", 0.0);
  l.kv_used = total > 0 ? kv.value("blocks_used", 0.0) / total : 0.0;
  l.known = true;
  return l;
}

// One short greedy generation: loads the model if it is lazy and touches the weights.
Status warm_up(client::HttpClient& c, const RouterOptions& o) {
  const std::string body = R"({"prompt":"Once upon a time","max_tokens":4,"temperature":0})";
  auto r = c.request("POST", "/v1/completions", body, o.backend_api_key);
  if (!r) return r.status();
  if (r->status != 200) return Status::errorf("warm-up answered {}: {}", r->status, r->body.substr(0, 200));
  return Status::ok();
}

}  // namespace

void RouterCore::check(const std::shared_ptr<Backend>& b) {
  client::HttpClientConfig cc;
  cc.url = b->url;
  cc.timeout_s = opt.health_timeout_s;
  client::HttpClient c(cc);
  auto h = c.request("GET", "/health");
  const double now = now_s();
  if (!h || h->status != 200) {
    const std::string why = !h ? h.message() : "/health answered " + std::to_string(h->status);
    b->health_failures++;
    std::lock_guard<std::mutex> lk(b->mu);
    b->last_check = now;
    const uint64_t opened = b->breaker.opened();
    b->breaker.on_failure(now);  // a failed check counts as a failure (consecutive ones open it)
    if (b->breaker.opened() != opened) {
      m.breaker_opens(b->name).inc();
      LOG_WARN("router: backend {}: breaker open", b->name);
    }
    mark_down(*b, why);
    return;
  }
  BackendLoad load;
  if (auto s = c.request("GET", "/admin/status", {}, admin_key(opt)); s && s->status == 200) load = parse_load(s->body);
  json models;
  if (auto m = c.request("GET", "/v1/models", {}, opt.backend_api_key); m && m->status == 200) {
    json j = json::parse(m->body, nullptr, false);
    if (j.is_object() && j.contains("data") && j["data"].is_array()) models = j["data"];
  }
  bool warm = false;
  {
    std::lock_guard<std::mutex> lk(b->mu);
    b->last_check = now;
    b->load = load;
    if (!models.is_null()) b->models = models;
    // An open breaker lets it back only after its cool-down: this check (with the warm-up,
    // when there is one) is then the half-open probe.
    const bool probe = b->breaker.state() != BreakerState::closed;
    if (probe && !b->breaker.allow(now)) {
      b->last_error = "breaker open (cooling down)";
      return;
    }
    if (probe && !opt.prewarm) {
      b->breaker.on_success(now);
      LOG_INFO("router: backend {}: breaker closed (health probe)", b->name);
    }
    if (b->state == BackendState::down || b->state == BackendState::unknown) {
      warm = opt.prewarm;
      b->state = warm ? BackendState::warming : BackendState::up;
      if (!warm) {
        b->last_up = now;
        LOG_INFO("router: backend {} is up", b->name);
      }
    }
    if (probe && opt.prewarm && !warm) {  // up already: the health answer is the probe
      b->breaker.on_success(now);
      LOG_INFO("router: backend {}: breaker closed (health probe)", b->name);
    }
  }
  if (!warm) return;
  const double t0 = now_s();
  Status st = warm_up(c, opt);
  const double dt = now_s() - t0;
  m.prewarms.inc();
  std::lock_guard<std::mutex> lk(b->mu);
  if (b->state != BackendState::warming) return;
  if (!st) {
    b->breaker.on_failure(now_s());
    mark_down(*b, "warm-up: " + st.message());
    return;
  }
  const bool was_open = b->breaker.state() != BreakerState::closed;
  b->breaker.on_success(now_s());
  if (was_open) LOG_INFO("router: backend {}: breaker closed (warm-up probe)", b->name);
  b->state = BackendState::up;
  b->last_up = now_s();
  b->warmup_s = dt;
  LOG_INFO("router: backend {} is up (warmed up in {:.3f} s)", b->name, dt);
}

void RouterCore::health_loop() {
  for (;;) {
    for (const auto& b : snapshot()) {
      {
        std::lock_guard<std::mutex> lk(health_mu);
        if (stopping) return;
      }
      check(b);
    }
    std::unique_lock<std::mutex> lk(health_mu);
    health_cv.wait_for(lk, std::chrono::duration<double>(opt.health_interval_s), [&] { return stopping || check_now; });
    if (stopping) return;
    check_now = false;
  }
}

}  // namespace shardlm::router
