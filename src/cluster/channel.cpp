#include "shardlm/cluster/channel.h"

#include <unistd.h>

#include <cstring>

#include "shardlm/core/log.h"
#include "shardlm/core/memory.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/cluster/rank-model.h"
#include "shardlm/cluster/step-executor.h"

namespace shardlm {

void channel_send(MsgKind kind, const std::vector<uint8_t>& payload, double timeout_s, const char* timeout_cause) {
  if (Comm::size() == 1) return;
  MsgHeader h;
  h.kind = static_cast<uint16_t>(kind);
  h.payload_bytes = payload.size();
  Comm::bcast(&h, sizeof h, 0, timeout_s, "broadcast message header", timeout_cause);
  if (!payload.empty())
    Comm::bcast(const_cast<uint8_t*>(payload.data()), static_cast<int64_t>(payload.size()), 0, timeout_s,
                "broadcast message payload");
}

Message channel_recv(double timeout_s, const char* timeout_cause) {
  MsgHeader h;
  h.magic = 0;
  Comm::bcast(&h, sizeof h, 0, timeout_s, "wait for the next message from rank 0", timeout_cause);
  Status st = check_header(h);
  if (!st) Comm::fatal("error", "protocol error: " + st.message());
  Message m;
  m.kind = static_cast<MsgKind>(h.kind);
  m.payload.resize(h.payload_bytes);
  if (h.payload_bytes)
    Comm::bcast(m.payload.data(), static_cast<int64_t>(h.payload_bytes), 0, timeout_s, "receive message payload");
  return m;
}

std::vector<RankStats> gather_rank_stats(const RankModel* model, double timeout_s, const char* timeout_cause) {
  RankStats mine;
  mine.rss_bytes = static_cast<double>(rss_bytes());
  mine.anon_bytes = static_cast<double>(anon_rss_bytes());
  mine.available_bytes = static_cast<double>(available_bytes());
  if (model) {
    mine.model_bytes = static_cast<double>(model->weight_bytes());
    mine.kv_bytes = static_cast<double>(model->kv_bytes());
    mine.bytes_per_token = static_cast<double>(model->bytes_per_token());
  }
  mine.pid = static_cast<double>(getpid());
  gethostname(mine.host, sizeof mine.host - 1);
  std::vector<RankStats> all(Comm::rank() == 0 ? Comm::size() : 0);
  Comm::gather(&mine, sizeof mine, all.data(), 0, timeout_s, "gather rank statistics", timeout_cause);
  return all;
}

std::vector<double> shutdown_gather_rss(double timeout_s) {
  std::vector<double> out;
  for (const auto& s : gather_rank_stats(nullptr, timeout_s)) out.push_back(s.rss_bytes);
  return out;
}

Status run_step_rank0(StepExecutor& exec, const StepMsg& step, double timeout_s, StepRows& out) {
  SHARDLM_TRY(check_step_supported(step));
  channel_send(MsgKind::STEP, encode_step(step), timeout_s);
  std::vector<uint8_t> mine;
  Status st = exec.execute(step, mine);
  if (!st) Comm::fatal("error", "rank 0 could not execute its own step: " + st.message());
  const int world = Comm::size();
  std::vector<uint8_t> all(world * mine.size());
  if (!step.rows.empty())
    Comm::gather(mine.data(), static_cast<int64_t>(mine.size()), all.data(), 0, timeout_s, "gather row records");
  auto rows = decode_step_rows(step, all.data(), all.size(), world, exec.candidates_k());
  if (!rows) return rows.status();
  out = std::move(rows.value());
  return Status::ok();
}

Status run_step_worker(StepExecutor& exec, const StepMsg& step, double timeout_s) {
  std::vector<uint8_t> mine;
  Status st = exec.execute(step, mine);
  if (!st) Comm::fatal("error", "worker could not execute step: " + st.message());
  if (!step.rows.empty())
    Comm::gather(mine.data(), static_cast<int64_t>(mine.size()), nullptr, 0, timeout_s, "gather row records");
  return Status::ok();
}

}  // namespace shardlm
