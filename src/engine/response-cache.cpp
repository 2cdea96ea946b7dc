#include "shardlm/engine/response-cache.h"

#include <list>
#include <optional>
#include <mutex>
#include <unordered_map>

#include "shardlm/core/log.h"
#include "shardlm/metrics/registry.h"

namespace shardlm {

namespace {

using Clock = std::chrono::steady_clock;

// A copy of e as a client that did not compute it sees it: at the end, every prompt
// token was served from the cache.
RequestEvent shared_copy(const RequestEvent& e) {
  RequestEvent c = e;
  if (c.done) c.usage.cached_tokens = c.usage.prompt_tokens;
  return c;
}

size_t event_bytes(const RequestEvent& e) {
  size_t b = sizeof(RequestEvent) + e.text.size() + e.stop_string.size() + e.error.message.size();
  for (const auto& t : e.tokens) b += sizeof(TokenOut) + t.top.size() * sizeof(t.top[0]);
  return b;
}

// The answer is worth keeping: it ended normally (not an error, timeout or cancel).
bool storable(const std::vector<RequestEvent>& log) {
  if (log.empty() || !log.back().done || log.back().error) return false;
  return log.back().finish == FinishReason::stop || log.back().finish == FinishReason::length;
}

}  // namespace

struct ResponseCache::Core {
  struct Sub {
    std::shared_ptr<ResultQueue> q;
    bool shared = false;  // joined a computation it did not start
  };
  struct Flight {
    uint64_t id = 0;
    std::string key;          // generation-qualified
    bool registered = false;  // identical requests may join it
    std::shared_ptr<ResultQueue> upstream;
    std::mutex mu;            // guards the members below
    std::vector<RequestEvent> log;
    std::vector<Sub> subs;
    bool done = false;
    uint64_t engine_id = 0;
    std::function<void(uint64_t)> cancel;
    bool abandoned = false;  // every client left before the engine request was known
  };
  struct Entry {
    std::string key;
    std::vector<RequestEvent> events;
    size_t bytes = 0;
    Clock::time_point stored;
  };

  ResponseCacheOptions opts;
  mutable std::mutex mu;  // guards everything below
  uint64_t generation = 0;
  uint64_t next_flight = 1;
  std::unordered_map<std::string, std::shared_ptr<Flight>> joinable;  // registered flights, by key
  std::unordered_map<uint64_t, std::shared_ptr<Flight>> flights;      // every live flight, by id
  std::list<Entry> lru;                                               // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index;
  ResponseCacheStats st;

  metrics::Counter *m_hits = nullptr, *m_coalesced = nullptr, *m_misses = nullptr, *m_bypassed = nullptr,
                   *m_stores = nullptr, *m_evictions = nullptr;
  metrics::Gauge *m_entries = nullptr, *m_bytes = nullptr;

  void count(uint64_t& field, metrics::Counter* c) {
    ++field;
    if (c) c->inc();
  }
  void publish_size() {
    st.entries = lru.size();
    st.in_flight = flights.size();
    if (m_entries) m_entries->set(static_cast<double>(lru.size()));
    if (m_bytes) m_bytes->set(static_cast<double>(st.bytes));
  }
  void erase(std::list<Entry>::iterator it) {
    st.bytes -= it->bytes;
    index.erase(it->key);
    lru.erase(it);
  }
  void clear_store() {
    lru.clear();
    index.clear();
    st.bytes = 0;
    publish_size();
  }
  void store(std::string key, std::vector<RequestEvent> events) {
    size_t bytes = sizeof(Entry) + key.size() * 2;
    for (const auto& e : events) bytes += event_bytes(e);
    if (auto it = index.find(key); it != index.end()) erase(it->second);
    if (bytes > opts.max_bytes()) return;  // larger than the whole budget
    while (st.bytes + bytes > opts.max_bytes() && !lru.empty()) {
      erase(std::prev(lru.end()));
      count(st.evictions, m_evictions);
    }
    lru.push_front(Entry{key, std::move(events), bytes, Clock::now()});
    index.emplace(std::move(key), lru.begin());
    st.bytes += bytes;
    count(st.stores, m_stores);
    publish_size();
  }
  // The done event of f has been logged: f leaves the live flights; a complete answer
  // of the current generation is stored.
  void finish(const std::shared_ptr<Flight>& f) {
    std::lock_guard<std::mutex> lk(mu);
    flights.erase(f->id);
    if (auto it = joinable.find(f->key); it != joinable.end() && it->second == f) joinable.erase(it);
    std::vector<RequestEvent> log;
    {
      std::lock_guard<std::mutex> fl(f->mu);
      log = std::move(f->log);
    }
    const std::string prefix = std::to_string(generation) + '\n';
    if (storable(log) && f->key.compare(0, prefix.size(), prefix) == 0) store(f->key, std::move(log));
    publish_size();
  }
  // Engine thread (the upstream queue's notification): log every new event and hand a
  // copy to each client of the flight.
  static void pump(const std::weak_ptr<Core>& wc, const std::weak_ptr<Flight>& wf) {
    auto core = wc.lock();
    auto f = wf.lock();
    if (!core || !f) return;
    std::vector<RequestEvent> got;
    f->upstream->drain([&](RequestEvent&& e) { got.push_back(std::move(e)); });
    std::optional<RequestEvent> last;  // the done event, handed over after the store has it
    std::vector<Sub> waiting;         // who gets it: the clients before it was logged
    {
      std::lock_guard<std::mutex> fl(f->mu);
      for (auto& e : got) {
        if (e.done) {
          last = e;
          waiting = f->subs;
          f->done = true;
        } else {
          for (const auto& s : f->subs) s.q->push(s.shared ? shared_copy(e) : e);
        }
        f->log.push_back(std::move(e));
      }
    }
    if (!last) return;
    // Stored (and no longer joinable) before any client sees its end: a request sent
    // after a response completed finds it in the store. A client that joined after
    // the done event was logged had it in its replay.
    core->finish(f);
    for (const auto& s : waiting) s.q->push(s.shared ? shared_copy(*last) : *last);
  }
};

ResponseCache::ResponseCache(ResponseCacheOptions opts, metrics::Registry* r) : core_(std::make_shared<Core>()) {
  core_->opts = opts;
  if (!r) return;
  core_->m_hits = &r->counter("shardlm_response_cache_hits_total", "Requests answered from the response cache.");
  core_->m_coalesced = &r->counter("shardlm_response_cache_coalesced_total",
                                   "Requests that joined an identical request still computing.");
  core_->m_misses = &r->counter("shardlm_response_cache_misses_total", "Cacheable requests computed by the engine.");
  core_->m_bypassed = &r->counter("shardlm_response_cache_bypassed_total",
                                  "Requests not cached (not deterministic, or Cache-Control).");
  core_->m_stores = &r->counter("shardlm_response_cache_stores_total", "Answers stored in the response cache.");
  core_->m_evictions =
      &r->counter("shardlm_response_cache_evictions_total", "Answers evicted to stay within --response-cache-mb.");
  core_->m_entries = &r->gauge("shardlm_response_cache_entries", "Answers held in the response cache.");
  core_->m_bytes = &r->gauge("shardlm_response_cache_bytes", "Bytes held by the response cache.");
}

ResponseCache::~ResponseCache() = default;

bool ResponseCache::enabled() const { return core_->opts.max_bytes() > 0; }

ResponseCache::Ticket ResponseCache::open(const std::string& key, uint64_t generation,
                                          const std::shared_ptr<ResultQueue>& out, bool read) {
  Core& c = *core_;
  std::string full = std::to_string(generation) + '\n' + key;
  Ticket t;
  std::vector<RequestEvent> replay;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    if (generation != c.generation) {
      c.generation = generation;
      c.clear_store();
    }
    if (read) {
      if (auto it = c.index.find(full); it != c.index.end()) {
        auto e = it->second;
        const double age = std::chrono::duration<double>(Clock::now() - e->stored).count();
        if (age <= c.opts.ttl_s) {
          c.lru.splice(c.lru.begin(), c.lru, e);
          replay = e->events;
          c.count(c.st.hits, c.m_hits);
          t.outcome = Outcome::hit;
        } else {
          c.erase(e);
          ++c.st.expired;
          c.publish_size();
        }
      }
      if (t.outcome != Outcome::hit) {
        if (auto it = c.joinable.find(full); it != c.joinable.end()) {
          auto& f = it->second;
          std::lock_guard<std::mutex> fl(f->mu);
          for (const auto& e : f->log) out->push(shared_copy(e));
          f->subs.push_back({out, true});
          c.count(c.st.coalesced, c.m_coalesced);
          t.outcome = Outcome::coalesced;
          t.flight = f->id;
          return t;
        }
      }
    }
    if (t.outcome != Outcome::hit) {
      auto f = std::make_shared<Core::Flight>();
      f->id = c.next_flight++;
      f->key = full;
      f->registered = read;
      f->upstream = std::make_shared<ResultQueue>();
      f->subs.push_back({out, false});
      std::weak_ptr<Core> wc = core_;
      std::weak_ptr<Core::Flight> wf = f;
      f->upstream->set_notify([wc, wf] { Core::pump(wc, wf); });
      c.flights.emplace(f->id, f);
      if (read) c.joinable[full] = f;
      c.count(c.st.misses, c.m_misses);
      c.publish_size();
      t.outcome = Outcome::miss;
      t.flight = f->id;
      t.upstream = f->upstream;
      return t;
    }
  }
  for (const auto& e : replay) out->push(shared_copy(e));
  return t;
}

void ResponseCache::started(uint64_t flight, uint64_t id, std::function<void(uint64_t)> cancel) {
  std::shared_ptr<Core::Flight> f;
  {
    std::lock_guard<std::mutex> lk(core_->mu);
    auto it = core_->flights.find(flight);
    if (it == core_->flights.end()) return;  // already finished
    f = it->second;
  }
  bool cancel_now = false;
  {
    std::lock_guard<std::mutex> fl(f->mu);
    f->engine_id = id;
    f->cancel = cancel;
    cancel_now = f->abandoned && !f->done;
  }
  if (cancel_now) cancel(id);
}

void ResponseCache::leave(uint64_t flight, const ResultQueue* out) {
  std::function<void(uint64_t)> cancel;
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lk(core_->mu);
    auto it = core_->flights.find(flight);
    if (it == core_->flights.end()) return;
    auto f = it->second;
    std::lock_guard<std::mutex> fl(f->mu);
    std::erase_if(f->subs, [&](const Core::Sub& s) { return s.q.get() == out; });
    if (!f->subs.empty() || f->done) return;
    // Nobody is left to answer: no later request may join a computation being cancelled.
    if (auto j = core_->joinable.find(f->key); j != core_->joinable.end() && j->second == f) core_->joinable.erase(j);
    if (f->cancel) {
      cancel = f->cancel;
      id = f->engine_id;
    } else {
      f->abandoned = true;
    }
  }
  if (cancel) cancel(id);
}

void ResponseCache::note_bypass() {
  std::lock_guard<std::mutex> lk(core_->mu);
  core_->count(core_->st.bypassed, core_->m_bypassed);
}

void ResponseCache::sync_generation(uint64_t generation) {
  std::lock_guard<std::mutex> lk(core_->mu);
  if (generation == core_->generation) return;
  core_->generation = generation;
  core_->clear_store();
}

void ResponseCache::clear() {
  std::lock_guard<std::mutex> lk(core_->mu);
  core_->clear_store();
}

ResponseCacheStats ResponseCache::stats() const {
  std::lock_guard<std::mutex> lk(core_->mu);
  ResponseCacheStats s = core_->st;
  s.entries = core_->lru.size();
  s.in_flight = core_->flights.size();
  return s;
}

}  // namespace shardlm
