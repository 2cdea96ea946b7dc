// Sticky sessions: the scheduler's pins of conversations' blocks (sched/sessions.h).
#include <algorithm>
#include <chrono>

#include "shardlm/sched/scheduler.h"

namespace shardlm {

namespace {
using Clock = std::chrono::steady_clock;
double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

uint64_t max_pinned_blocks(const SchedulerConfig& c) {
  if (c.block_bytes == 0) return 0;
  return static_cast<uint64_t>(c.max_pinned_gb * 1073741824.0) / c.block_bytes;
}

// The sequence's registered (full, computed) blocks: prompt and generated tokens.
void Scheduler::pin_session(Sequence& s) {
  if (!cfg_.prefix_cache || !kv_.has(s.wire_id)) return;
  const SeqBlocks& t = kv_.table(s.wire_id);
  std::vector<int32_t> blocks(t.blocks.begin(), t.blocks.begin() + t.n_registered);
  const uint64_t cap = max_pinned_blocks(cfg_);
  if (blocks.size() > cap) blocks.resize(cap);
  auto [it, fresh] = sessions_.try_emplace(s.session);
  SessionInfo& si = it->second;
  if (fresh) {
    si.id = s.session;
    si.pin_key = next_pin_key_++;
  }
  unpin_session(si);
  ++si.turns;
  si.last_use = Clock::now();
  si.last_use_unix = unix_now();
  if (blocks.empty() || !kv_.pin(si.pin_key, blocks)) return;
  si.blocks = static_cast<int>(blocks.size());
  si.tokens = si.blocks * cfg_.block_size;
  si.bytes = static_cast<uint64_t>(si.blocks) * cfg_.block_bytes;
  session_stats_.pinned_blocks += si.blocks;
  session_stats_.pinned_bytes += si.bytes;
  enforce_pinned_budget(s.session);
}

void Scheduler::unpin_session(SessionInfo& si) {
  if (!kv_.unpin(si.pin_key)) return;
  session_stats_.pinned_blocks -= si.blocks;
  session_stats_.pinned_bytes -= si.bytes;
  si.blocks = 0;
  si.tokens = 0;
  si.bytes = 0;
}

// Least recently used pinned sessions other than `keep` give way to the budget.
void Scheduler::enforce_pinned_budget(const std::string& keep) {
  const uint64_t cap = max_pinned_blocks(cfg_);
  while (session_stats_.pinned_blocks > cap) {
    SessionInfo* lru = nullptr;
    for (auto& [id, si] : sessions_)
      if (id != keep && si.blocks > 0 && (!lru || si.last_use < lru->last_use)) lru = &si;
    if (!lru) break;
    unpin_session(*lru);
    ++session_stats_.demoted;
  }
}

bool Scheduler::demote_session() {
  SessionInfo* lru = nullptr;
  for (auto& [id, si] : sessions_)
    if (si.blocks > 0 && (!lru || si.last_use < lru->last_use)) lru = &si;
  if (!lru) return false;
  unpin_session(*lru);
  ++session_stats_.demoted;
  return true;
}

void Scheduler::expire_sessions() {
  if (sessions_.empty()) return;
  const auto now = Clock::now();
  const auto ttl = std::chrono::duration<double>(cfg_.session_ttl_s);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (now - it->second.last_use > ttl) {
      if (it->second.blocks > 0) ++session_stats_.expired;
      unpin_session(it->second);
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

void Scheduler::note_session_hit(const Sequence& s, int n_cached) {
  if (s.session.empty()) return;
  auto it = sessions_.find(s.session);
  if (it == sessions_.end()) return;
  it->second.last_use = Clock::now();
  it->second.last_use_unix = unix_now();
  if (n_cached <= 0) return;
  ++it->second.hits;
  ++session_stats_.hits;
  session_stats_.hit_tokens += static_cast<uint64_t>(n_cached);
}

std::vector<SessionInfo> Scheduler::sessions() const {
  std::vector<SessionInfo> out;
  out.reserve(sessions_.size());
  for (const auto& [id, si] : sessions_) out.push_back(si);
  return out;
}

bool Scheduler::drop_session(const std::string& id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  unpin_session(it->second);
  sessions_.erase(it);
  return true;
}

}  // namespace shardlm
