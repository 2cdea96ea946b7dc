// Rank 0 → all ranks message channel over MPI broadcasts (header, then payload),
// and the candidates gather back to rank 0. Every call has a deadline.
#pragma once
#include <cstdint>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/dist/wire.h"

namespace shardlm {

struct Message {
  MsgKind kind = MsgKind::PING;
  std::vector<uint8_t> payload;
};

// Rank 0: broadcast one message to every rank (no-op with one rank).
void channel_send(MsgKind kind, const std::vector<uint8_t>& payload, double timeout_s);
// Other ranks: wait for the next message. A malformed header is fatal (the ranks
// would no longer agree on what runs next).
Message channel_recv(double timeout_s);

// After SHUTDOWN every rank takes part in one gather of its resident memory;
// rank 0 gets one value per rank (bytes), the others an empty vector.
std::vector<double> shutdown_gather_rss(double timeout_s);

// Runs a STEP on every rank's slice (rank 0 included) and returns, on rank 0, the
// candidates of every rank for each sampled sequence: out[row][rank].
class RankModel;
struct Candidates;
Status run_step_rank0(RankModel& model, const StepMsg& step, double timeout_s,
                      std::vector<std::vector<Candidates>>& out, std::vector<uint64_t>& sampled_ids);
// Worker side of a STEP (execute + gather).
Status run_step_worker(RankModel& model, const StepMsg& step, double timeout_s);

}  // namespace shardlm
