#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "app/app.h"
#include "shardlm/core/log.h"
#include "shardlm/dist/exit-audit.h"

namespace shardlm {

void apply_env(RuntimeConfig& rt) {
  auto num = [](const char* name, double& out) {
    if (const char* v = std::getenv(name)) {
      char* end = nullptr;
      double d = std::strtod(v, &end);
      if (end && *end == '\0' && d >= 0) out = d;
      else LOG_WARN("ignoring {}={}: not a non-negative number", name, v);
    }
  };
  num("SHARDLM_EVAL_TIMEOUT", rt.eval_timeout_s);
  num("SHARDLM_COLLECTIVE_TIMEOUT", rt.collective_timeout_s);
  num("SHARDLM_MEMORY_GUARD_GB", rt.memory_guard_gb);
}

void install_signal_handlers(int world_size) {
  // Block the signals in every thread; one thread waits for them synchronously, so
  // the handler can log normally (no async-signal-safety limits).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, world_size] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGHUP && world_size > 1) {
        LOG_WARN("SIGHUP ignored (running on {} ranks)", world_size);
        continue;
      }
      const char* name = sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGHUP";
      exit_audit(std::string("signal_") + name);
      _exit(128 + sig);
    }
  }).detach();
}

}  // namespace shardlm
