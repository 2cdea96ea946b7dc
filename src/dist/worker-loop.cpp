#include "shardlm/dist/worker-loop.h"

#include "shardlm/core/log.h"
#include "shardlm/core/memory.h"
#include "shardlm/dist/channel.h"
#include "shardlm/dist/comm.h"
#include "shardlm/dist/exit-audit.h"
#include "shardlm/dist/rank-model.h"

namespace shardlm {

int worker_loop(const WorkerLoopConfig& cfg) {
  std::unique_ptr<RankModel> model;
  double step_timeout = cfg.idle_timeout_s;
  for (;;) {
    Message m = channel_recv(model ? std::max(step_timeout, cfg.idle_timeout_s) : cfg.idle_timeout_s);
    switch (m.kind) {
      case MsgKind::LOAD: {
        auto lm = decode_load(m.payload.data(), m.payload.size());
        if (!lm) Comm::fatal("error", lm.message());
        auto rc = RuntimeConfig::from_json(lm->config_json);
        if (!rc) Comm::fatal("error", rc.message());
        model.reset();
        auto r = load_rank_model(rc.value());
        if (!r) {
          LOG_ERROR("load failed: {}", r.message());
          const bool guard = r.message().find("MemoryGuardError") != std::string::npos;
          exit_audit(guard ? "memory_guard" : "load_error", r.message());
          return 1;
        }
        model = std::move(r.value());
        step_timeout = rc->collective_timeout_s;
        break;
      }
      case MsgKind::UNLOAD:
        model.reset();
        trim_heap();
        LOG_INFO("unloaded (rss {:.1f} MiB)", rss_bytes() / 1048576.0);
        break;
      case MsgKind::STEP: {
        if (!model) Comm::fatal("error", "STEP received with no model loaded");
        auto st = decode_step(m.payload.data(), m.payload.size());
        if (!st) Comm::fatal("error", st.message());
        (void)run_step_worker(*model, st.value(), step_timeout);
        break;
      }
      case MsgKind::PING:
        break;
      case MsgKind::SHUTDOWN:
        model.reset();
        (void)shutdown_gather_rss(cfg.idle_timeout_s);
        exit_audit("worker_loop_exit");
        return 0;
    }
  }
}

}  // namespace shardlm
