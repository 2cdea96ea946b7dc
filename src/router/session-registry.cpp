#include "shardlm/router/session-registry.h"

namespace shardlm::router {

void SessionRegistry::expire(double now) {
  // The back of lru_ is the least recently used: expired entries gather there.
  while (!lru_.empty()) {
    auto it = map_.find(lru_.back());
    if (it == map_.end()) {
      lru_.pop_back();
      continue;
    }
    if (now - it->second.last <= ttl_s_) break;
    map_.erase(it);
    lru_.pop_back();
  }
}

std::optional<std::string> SessionRegistry::find(const std::string& id, double now) {
  std::lock_guard<std::mutex> lk(mu_);
  expire(now);
  auto it = map_.find(id);
  if (it == map_.end()) return std::nullopt;
  it->second.last = now;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.backend;
}

void SessionRegistry::put(const std::string& id, const std::string& backend, double now) {
  std::lock_guard<std::mutex> lk(mu_);
  expire(now);
  auto it = map_.find(id);
  if (it != map_.end()) {
    it->second.backend = backend;
    it->second.last = now;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  while (max_entries_ > 0 && map_.size() >= max_entries_ && !lru_.empty()) {
    map_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(id);
  map_.emplace(id, Entry{backend, now, lru_.begin()});
}

size_t SessionRegistry::drop_backend(const std::string& backend) {
  std::lock_guard<std::mutex> lk(mu_);
  size_t n = 0;
  for (auto it = map_.begin(); it != map_.end();) {
    if (it->second.backend == backend) {
      lru_.erase(it->second.lru);
      it = map_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

size_t SessionRegistry::size(double now, const std::string& backend) {
  std::lock_guard<std::mutex> lk(mu_);
  expire(now);
  if (backend.empty()) return map_.size();
  size_t n = 0;
  for (const auto& [id, e] : map_) n += e.backend == backend;
  return n;
}

}  // namespace shardlm::router
