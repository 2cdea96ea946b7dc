// SessionRegistry: which backend holds a session (a request's "session_id" body field or
// X-Session-ID header), so later turns reuse that backend's prefix cache. An entry lives
// ttl_s after its last use; past max_entries the least recently used one goes. A
// backend that leaves (down, removed) loses its sessions: they are placed afresh.
// Time is passed in (seconds). Thread-safe.
#pragma once
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace shardlm::router {

class SessionRegistry {
 public:
  SessionRegistry(double ttl_s, size_t max_entries) : ttl_s_(ttl_s), max_entries_(max_entries) {}

  // The backend of `id` if it is known and not expired (and then refreshes it).
  std::optional<std::string> find(const std::string& id, double now);
  // Binds (or re-binds) id to backend, refreshed now.
  void put(const std::string& id, const std::string& backend, double now);
  // Forgets every session of backend; returns how many.
  size_t drop_backend(const std::string& backend);
  // Live sessions (expired ones are removed first); per backend when backend is non-empty.
  size_t size(double now, const std::string& backend = "");

 private:
  struct Entry {
    std::string backend;
    double last = 0;
    std::list<std::string>::iterator lru;  // position in lru_ (front = most recent)
  };
  void expire(double now);

  const double ttl_s_;
  const size_t max_entries_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> map_;
  std::list<std::string> lru_;
};

}  // namespace shardlm::router
