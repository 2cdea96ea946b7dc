// Rank 0 → all ranks message channel over MPI broadcasts (header, then payload),
// and the row-record gather back to rank 0 (protocol/step-msg.h). Every call has a deadline.
#pragma once
#include <cstdint>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/protocol/wire.h"
#include "shardlm/sampling/candidates.h"

namespace shardlm {

struct Message {
  MsgKind kind = MsgKind::PING;
  std::vector<uint8_t> payload;
};

// Rank 0: broadcast one message to every rank (no-op with one rank).
void channel_send(MsgKind kind, const std::vector<uint8_t>& payload, double timeout_s,
                  const char* timeout_cause = "collective_timeout");
// Other ranks: wait for the next message. A malformed header is fatal (the ranks
// would no longer agree on what runs next).
// timeout_cause: the EXIT AUDIT cause when nothing comes in time ("peer_lost" when the
// wait is for a heartbeat).
Message channel_recv(double timeout_s, const char* timeout_cause = "collective_timeout");

// What each rank reports about itself after PING and SHUTDOWN (one fixed-size gather).
struct RankStats {
  double rss_bytes = 0;        // resident memory of the process
  double anon_bytes = 0;       // of which private anonymous memory (heap, KV, weights copies)
  double available_bytes = 0;  // memory the node has available (cgroup-capped)
  double model_bytes = 0;      // weights held by this rank (0 when unloaded)
  double kv_bytes = 0;         // KV cache held by this rank
  double bytes_per_token = 0;  // weight bytes this rank reads per generated token
  double pid = 0;              // process id on its host (for /proc/<pid>/io readers)
  char host[64] = {};          // hostname, NUL-terminated
};
class RankModel;
// Every rank calls it (model: this rank's model, or null); rank 0 gets one entry per
// rank, the others an empty vector.
// A missed deadline is fatal with timeout_cause (the heartbeat passes "peer_lost").
std::vector<RankStats> gather_rank_stats(const RankModel* model, double timeout_s,
                                         const char* timeout_cause = "collective_timeout");
// After SHUTDOWN: the resident memory of every rank (bytes) on rank 0.
std::vector<double> shutdown_gather_rss(double timeout_s);

// Runs a STEP on every rank's slice (rank 0 included): broadcasts it, executes it, and
// gathers one row record per row of step.rows from every rank. On rank 0, `out` gets the
// table and, per row, the candidates of every rank (out.cands[row][rank]), each checked
// against the table (decode_step_rows). A step this build cannot execute
// (check_step_supported) is an error before anything is sent.
class StepExecutor;
Status run_step_rank0(StepExecutor& exec, const StepMsg& step, double timeout_s, StepRows& out);
// Worker side of a STEP (execute + gather).
Status run_step_worker(StepExecutor& exec, const StepMsg& step, double timeout_s);

}  // namespace shardlm
