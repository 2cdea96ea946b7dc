// Which backend gets a request, among those that may take it now (healthy, breaker
// available, not full): pure functions over a candidate list, so the policy is tested
// without sockets.
//
// - least_load: the smallest load (ties: the first).
// - bounded_hash (prefix-aware): backends ranked by rendezvous hashing of the prompt's
//   prefix hash (the same prefix ranks them the same way while the set is unchanged, and
//   a backend leaving moves only its own share); the first in that order whose load is
//   below the bound ceil(load_factor · (total load + 1) / n) takes it ("consistent
//   hashing with bounded loads"), so a hot prefix spills over instead of piling up.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shardlm::router {

struct Candidate {
  std::string name;  // the backend's URL (its identity)
  double load = 0;   // in-flight here + queued at the backend, plus KV pressure (backend.h)
};

// Index into cands of the least loaded; -1 when empty.
int least_load(const std::vector<Candidate>& cands);
// Index chosen by prefix hash under the load bound (load_factor >= 1); -1 when empty.
int bounded_hash(const std::vector<Candidate>& cands, uint64_t prefix_hash, double load_factor);

// FNV-1a 64 of bytes.
uint64_t hash_bytes(std::string_view bytes, uint64_t seed = 0xcbf29ce484222325ull);
// The prefix key of a prompt: the hash of its first `blocks` whole blocks of block_bytes
// bytes; 0 (no key) when the prompt is shorter than one block.
uint64_t prefix_hash(std::string_view prompt, size_t block_bytes, size_t blocks);

}  // namespace shardlm::router
