// Sticky sessions (ARCHITECTURE §5): a request with a session id pins its conversation's
// full KV blocks (prompt and generated tokens) when it ends, so the session's next turn
// finds them in the prefix cache however much other traffic ran meanwhile. Owned by the
// scheduler (engine thread); the pins are the KV manager's (KvManager::pin).
//
// Bounds: a session's pin expires session_ttl_s after its last use; the pins together
// hold at most max_pinned_blocks (the least recently used sessions are unpinned first);
// and when the pool runs short, the scheduler unpins the least recently used session
// before it would refuse or preempt work. Unpinned blocks park like any cached block:
// with the disk tier they are offloaded when evicted (demoted, not dropped).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace shardlm {

struct SessionInfo {
  std::string id;          // the client's session id
  uint64_t pin_key = 0;    // KvManager pin key (unique per session)
  int tokens = 0;          // tokens the pinned blocks hold
  int blocks = 0;          // blocks pinned
  uint64_t bytes = 0;      // KV bytes pinned, all ranks together
  uint64_t turns = 0;      // requests that ended in this session
  uint64_t hits = 0;       // admissions that reused the session's pinned blocks
  double last_use_unix = 0;
  std::chrono::steady_clock::time_point last_use;
};

struct SessionStats {
  uint64_t hits = 0;            // admissions of a known session that shared cached blocks
  uint64_t hit_tokens = 0;      // tokens those admissions shared
  uint64_t expired = 0;         // pins dropped by the TTL
  uint64_t demoted = 0;         // pins dropped for the pinned budget or the pool's pressure
  uint64_t pinned_blocks = 0;   // now
  uint64_t pinned_bytes = 0;    // now, all ranks together
};

}  // namespace shardlm
