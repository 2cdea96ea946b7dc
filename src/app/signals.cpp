#include <signal.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>

#include "app/app.h"
#include "shardlm/core/log.h"
#include "shardlm/cluster/exit-audit.h"

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
  if (std::getenv("SHARDLM_COLLECTIVE_TIMEOUT")) {  // a fixed deadline (cluster/step-deadline.h)
    num("SHARDLM_COLLECTIVE_TIMEOUT", rt.collective_timeout_s);
    rt.collective_timeout_k = 0;
  }
  num("SHARDLM_MEMORY_GUARD_GB", rt.memory_guard_gb);
}

namespace {
std::mutex g_stop_mu;
std::function<void(int)> g_stop;  // first SIGTERM/SIGINT goes here when set
std::function<void()> g_reload;   // SIGHUP goes here when set
}  // namespace

void set_reload_handler(std::function<void()> fn) {
  std::lock_guard<std::mutex> lk(g_stop_mu);
  g_reload = std::move(fn);
}

void set_graceful_stop(std::function<void(int)> fn) {
  std::lock_guard<std::mutex> lk(g_stop_mu);
  g_stop = std::move(fn);
}

void install_signal_handlers(int world_size) {
  // An async-signal-safe handler forwards each signal through a pipe to one thread that
  // acts on it with no async-signal-safety limits (logging, EXIT AUDIT). A handler, not
  // a blocked mask + sigwait: libraries (OpenBLAS, MPI) start threads before main()
  // whose masks we do not control, and the default action there would kill the process.
  static int fds[2] = {-1, -1};
  if (pipe2(fds, O_CLOEXEC) != 0) {
    LOG_WARN("signal pipe: {}", std::strerror(errno));
    return;
  }
  struct sigaction sa {};
  sa.sa_handler = [](int sig) {
    const int saved = errno;
    const unsigned char b = static_cast<unsigned char>(sig);
    ssize_t r = write(fds[1], &b, 1);
    (void)r;
    errno = saved;
  };
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
  std::thread([world_size] {
    for (;;) {
      unsigned char b = 0;
      const ssize_t n = read(fds[0], &b, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n != 1) return;
      const int sig = b;
      if (sig == SIGHUP && world_size > 1) {
        LOG_WARN("SIGHUP ignored (running on {} ranks)", world_size);
        continue;
      }
      if (sig == SIGHUP) {
        std::function<void()> reload;
        {
          std::lock_guard<std::mutex> lk(g_stop_mu);
          reload = g_reload;
        }
        if (reload) {
          LOG_INFO("SIGHUP received: reloading");
          reload();
          continue;
        }
      }
      const char* name = sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGHUP";
      std::function<void(int)> stop;
      {
        std::lock_guard<std::mutex> lk(g_stop_mu);
        stop.swap(g_stop);  // only the first signal stops gracefully; the next one exits
      }
      if (stop && sig != SIGHUP) {
        LOG_INFO("{} received: stopping (send it again to exit at once)", name);
        stop(sig);
        continue;
      }
      exit_audit(std::string("signal_") + name);
      _exit(128 + sig);
    }
  }).detach();
}

}  // namespace shardlm
