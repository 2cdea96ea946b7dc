// The response cache (issue 14 §4): whole answers of deterministic requests, kept as the
// engine's own event sequence (RequestEvent, request-result.h) and replayed into a new
// request's ResultQueue without touching the ranks. Because the replay is the same
// events with the same boundaries, the HTTP side formats the same JSON body or the same
// SSE chunk sequence from it; only what is per response (id, created) and the usage's
// cached_tokens (every prompt token came from the cache) differ.
//
// Identical requests that arrive while the first is still computing join it (a
// "flight"): they get the events seen so far at once and every later one as it comes,
// so N identical requests are one computation. The engine request is cancelled only
// when every client of its flight has gone.
//
// The key is the caller's (app/response-cache-key.h): a string that covers everything
// that can change the output. Entries are compared by the whole key, never by a hash
// alone. A model generation (EngineSnapshot::model_generation) is part of every lookup:
// when it changes (another model loaded, or unloaded) the cache empties.
//
// Threads: open()/leave()/stats()/clear() from HTTP threads; a flight's upstream queue
// is fed by the engine thread, whose notification moves the events on at once (a copy
// per subscriber, each pushed into that subscriber's own ResultQueue, which posts to its
// connection's strand): nothing on the engine thread formats or blocks beyond short
// mutexes. Lock order: the cache's mutex, then a flight's.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shardlm/engine/result-queue.h"

namespace shardlm {

namespace metrics {
class Registry;
}

// One documented options struct for the response cache (`shardlm serve` flags).
struct ResponseCacheOptions {
  double max_mb = 0;   // --response-cache-mb: the budget of stored answers in MiB (fractions allowed); 0 = off
  size_t max_bytes() const { return static_cast<size_t>(max_mb * 1048576.0); }
  double ttl_s = 600;    // --response-cache-ttl-s: an answer older than this is not served
};

struct ResponseCacheStats {
  uint64_t hits = 0;       // answered from the store
  uint64_t coalesced = 0;  // joined an identical request still computing
  uint64_t misses = 0;     // computed (and stored when the answer completed)
  uint64_t bypassed = 0;   // Cache-Control: no-cache / no-store, or not deterministic
  uint64_t stores = 0, evictions = 0, expired = 0;
  size_t entries = 0, bytes = 0, in_flight = 0;
};

class ResponseCache {
 public:
  // registry: where the shardlm_response_cache_* families are registered (null: none).
  ResponseCache(ResponseCacheOptions opts, metrics::Registry* registry);
  ~ResponseCache();
  ResponseCache(const ResponseCache&) = delete;
  ResponseCache& operator=(const ResponseCache&) = delete;

  bool enabled() const;

  enum class Outcome { hit, coalesced, miss };
  // What a request does after open(). miss: submit to the engine with results =
  // upstream, then started(id, cancel). hit and coalesced: nothing more (events arrive
  // in `out` already or soon).
  struct Ticket {
    Outcome outcome = Outcome::miss;
    uint64_t flight = 0;                     // coalesced, miss: the flight `out` belongs to
    std::shared_ptr<ResultQueue> upstream;   // miss: the engine request's queue
  };
  // key: the request's key; generation: the engine's model generation now; out: this
  // client's queue (its notify already set). read = false (Cache-Control: no-cache):
  // neither answered from the store nor joined to a flight, but the answer refreshes
  // the store.
  Ticket open(const std::string& key, uint64_t generation, const std::shared_ptr<ResultQueue>& out, bool read = true);
  // miss: the engine request of `flight` is `id`; cancel(id) cancels it (called once,
  // when every client has gone before the end).
  void started(uint64_t flight, uint64_t id, std::function<void(uint64_t)> cancel);
  // A client of `flight` went away (its connection closed).
  void leave(uint64_t flight, const ResultQueue* out);
  // A request that is not cached (not deterministic, Cache-Control: no-store): counted.
  void note_bypass();

  // A new model generation empties the store (flights of the old one finish unstored).
  void sync_generation(uint64_t generation);
  void clear();
  ResponseCacheStats stats() const;

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace shardlm
