// The KV tiers as rank 0 sees them: memory pool, its own rank's disk tier (every rank's
// is alike), the scheduler's tier counters and the sessions. A plain copy: published by
// the engine thread in its snapshot, read by /admin/kv, /admin/sessions and /metrics.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "shardlm/kv/kv-disk-store.h"
#include "shardlm/sched/scheduler.h"
#include "shardlm/sched/sessions.h"

namespace shardlm {

struct KvTierStats {
  std::string tier;                       // RuntimeConfig::kv_tier ("" when no model is loaded)
  uint64_t block_bytes = 0;               // one block on one rank (every layer, K and V)
  uint64_t memory_blocks = 0, memory_used_blocks = 0, memory_cached_blocks = 0, memory_bytes = 0;
  KvDiskStats disk;                       // rank 0's disk store (zero without the disk tier)
  std::string disk_dir;
  uint64_t disk_index_blocks = 0;         // blocks rank 0's index may restore
  SchedulerStats sched;
  SessionStats sessions;
  std::vector<SessionInfo> session_list;
};

}  // namespace shardlm
