// The backend list (reloads) and the choice of a backend for one request.
#include <algorithm>

#include "router/router-core.h"
#include "shardlm/core/log.h"
#include "shardlm/router/balancer.h"

namespace shardlm::router {

Status RouterCore::set_backends(const std::vector<std::string>& urls) {
  for (size_t i = 0; i < urls.size(); ++i) {
    auto parsed = client::parse_url(urls[i]);
    if (!parsed) return Status::errorf("backend {}: {}", urls[i], parsed.message());
    if (std::find(urls.begin(), urls.begin() + static_cast<std::ptrdiff_t>(i), urls[i]) != urls.begin() + static_cast<std::ptrdiff_t>(i))
      return Status::errorf("backend {} is listed twice", urls[i]);
  }
  std::vector<std::shared_ptr<Backend>> next(urls.size());
  std::vector<std::shared_ptr<Backend>> dropped;
  {
    std::lock_guard<std::mutex> lk(pool_mu);
    for (size_t i = 0; i < urls.size(); ++i) {
      auto it = std::find_if(backends.begin(), backends.end(), [&](const auto& b) { return b->name == urls[i]; });
      next[i] = it != backends.end() ? *it : std::make_shared<Backend>(urls[i], client::parse_url(urls[i]).value(), opt.breaker);
    }
    for (const auto& b : backends)
      if (std::find(next.begin(), next.end(), b) == next.end()) dropped.push_back(b);
    backends = next;
  }
  for (const auto& b : dropped) {
    std::lock_guard<std::mutex> lk(b->mu);
    b->removed = true;
    sessions.drop_backend(b->name);
    LOG_INFO("router: backend {} removed", b->name);
  }
  for (const auto& b : next)
    if (b->state == BackendState::unknown) LOG_INFO("router: backend {} added", b->name);
  {
    std::lock_guard<std::mutex> lk(health_mu);
    check_now = true;
  }
  health_cv.notify_all();
  return Status::ok();
}

Status RouterCore::reload() {
  if (opt.backends_file.empty()) return Status::error("no --backends file to reload");
  auto urls = read_backends_file(opt.backends_file);
  if (!urls) return urls.status();
  std::vector<std::string> all = opt.backends;
  for (const auto& u : urls.value())
    if (std::find(all.begin(), all.end(), u) == all.end()) all.push_back(u);
  SHARDLM_TRY(set_backends(all));
  LOG_INFO("router: {} backends after reloading {}", all.size(), opt.backends_file);
  return Status::ok();
}

std::vector<std::shared_ptr<Backend>> RouterCore::snapshot() {
  std::lock_guard<std::mutex> lk(pool_mu);
  return backends;
}

void RouterCore::mark_down(Backend& b, const std::string& why) {
  if (b.state != BackendState::down) LOG_WARN("router: backend {} is down: {}", b.name, why);
  b.state = BackendState::down;
  b.last_error = why;
  b.load = {};
  sessions.drop_backend(b.name);
}

Choice RouterCore::choose(const std::string& session, uint64_t phash, const std::vector<std::string>& exclude) {
  const double now = now_s();
  std::vector<std::shared_ptr<Backend>> all = snapshot();
  std::vector<std::shared_ptr<Backend>> usable;
  std::vector<Candidate> cands;
  Choice out;
  bool any_full = false;
  double full_until = 0;
  for (const auto& b : all) {
    if (std::find(exclude.begin(), exclude.end(), b->name) != exclude.end()) continue;
    std::lock_guard<std::mutex> lk(b->mu);
    if (b->removed || b->state != BackendState::up || !b->breaker.available(now)) continue;
    if (b->full_until > now) {
      any_full = true;
      full_until = full_until == 0 ? b->full_until : std::min(full_until, b->full_until);
      continue;
    }
    usable.push_back(b);
  }
  for (const auto& b : usable) {
    std::lock_guard<std::mutex> lk(b->mu);
    cands.push_back({b->name, b->score(now)});
  }
  while (!cands.empty()) {
    int pick = -1;
    if (!session.empty()) {
      if (auto held = sessions.find(session, now)) {
        for (size_t i = 0; i < cands.size(); ++i)
          if (cands[i].name == *held) pick = static_cast<int>(i);
        if (pick >= 0) m.sticky_hits.inc();
      }
    }
    if (pick < 0 && phash != 0) {
      pick = bounded_hash(cands, phash, opt.prefix_load_factor);
      m.prefix_routed.inc();
    }
    if (pick < 0) pick = least_load(cands);
    auto b = usable[static_cast<size_t>(pick)];
    bool ok = false;
    {
      std::lock_guard<std::mutex> lk(b->mu);
      ok = b->state == BackendState::up && b->breaker.allow(now);
    }
    if (ok) {
      if (!session.empty()) sessions.put(session, b->name, now);
      out.backend = b;
      return out;
    }
    usable.erase(usable.begin() + pick);
    cands.erase(cands.begin() + pick);
  }
  out.all_full = any_full;
  if (any_full) out.retry_after_s = std::max(1, static_cast<int>(full_until - now + 0.999));
  return out;
}

}  // namespace shardlm::router
