#include "shardlm/cluster/worker-loop.h"

#include <chrono>

#include "shardlm/core/log.h"
#include "shardlm/core/memory.h"
#include "shardlm/cluster/channel.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/cluster/exit-audit.h"
#include "shardlm/cluster/rank-model.h"
#include "shardlm/cluster/step-executor.h"
#include "shardlm/kernels/stream-read.h"

namespace shardlm {

int worker_loop(const WorkerLoopConfig& cfg) {
  std::unique_ptr<RankModel> model;
  std::unique_ptr<StepExecutor> exec;  // over *model; reset before it
  // A failed load (memory guard, bad file) that all ranks agreed on leaves this worker
  // unloaded and waiting; the cause is reported in the EXIT AUDIT at shutdown.
  std::string load_error_cause, load_error;
  for (;;) {
    Message m = channel_recv(cfg.idle_timeout_s, cfg.silence_cause);
    switch (m.kind) {
      case MsgKind::LOAD: {
        auto lm = decode_load(m.payload.data(), m.payload.size());
        if (!lm) Comm::fatal("error", lm.message());
        auto rc = RuntimeConfig::from_json(lm->config_json);
        if (!rc) Comm::fatal("error", rc.message());
        exec.reset();
        model.reset();
        auto r = load_rank_model(rc.value());
        if (!r) {
          LOG_ERROR("load failed: {}", r.message());
          const bool guard = r.message().find("MemoryGuardError") != std::string::npos;
          load_error_cause = guard ? "memory_guard" : "load_error";
          load_error = r.message();
          trim_heap();
          break;
        }
        load_error_cause.clear();
        model = std::move(r.value());
        exec = std::make_unique<StepExecutor>(*model);
        break;
      }
      case MsgKind::UNLOAD:
        exec.reset();
        model.reset();
        trim_heap();
        LOG_INFO("unloaded (rss {:.1f} MiB)", rss_bytes() / 1048576.0);
        break;
      case MsgKind::STEP: {
        if (!model) Comm::fatal("error", "STEP received with no model loaded");
        auto st = decode_step(m.payload.data(), m.payload.size());
        if (!st) Comm::fatal("error", st.message());
        const auto t0 = std::chrono::steady_clock::now();
        (void)run_step_worker(*exec, st.value(), model->begin_step(st.value()));
        model->end_step(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), st.value());
        break;
      }
      case MsgKind::PING:
        (void)gather_rank_stats(model.get(), cfg.idle_timeout_s, cfg.silence_cause);
        break;
      case MsgKind::PROBE: {
        auto pm = decode_probe(m.payload.data(), m.payload.size());
        if (!pm) Comm::fatal("error", pm.message());
        const double bw = stream_read_bandwidth(static_cast<int>(pm->threads), pm->bytes);
        Comm::gather(&bw, sizeof bw, nullptr, 0, cfg.idle_timeout_s, "gather bandwidth");
        break;
      }
      case MsgKind::SHUTDOWN:
        (void)shutdown_gather_rss(cfg.idle_timeout_s);  // as loaded, like rank 0's figure
        exec.reset();
        model.reset();
        trim_heap();
        if (!load_error_cause.empty()) {
          exit_audit(load_error_cause, load_error);
          return 1;
        }
        exit_audit("worker_loop_exit");
        return 0;
    }
  }
}

}  // namespace shardlm
