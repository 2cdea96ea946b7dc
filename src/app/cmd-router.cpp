// `shardlm router`: replicas (`shardlm serve` groups) behind one endpoint (src/router).
// One process, no MPI. SIGHUP rereads --backends FILE; SIGTERM/SIGINT drain it (no new
// connections, in-flight requests finish within --drain-timeout-s) and stop it, exit 0;
// a second signal exits at once.
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include "app/app.h"
#include "shardlm/core/log.h"
#include "shardlm/router/router.h"

namespace shardlm {

int cmd_router(const router::RouterOptions& o) {
  if (o.backends.empty() && o.backends_file.empty()) {
    LOG_ERROR("router: give --backend URL (repeatable) or --backends FILE");
    return 2;
  }
  router::Router r(o);
  if (Status st = r.start(); !st) {
    LOG_ERROR("router: {}", st.message());
    return 1;
  }
  LOG_INFO("router listening on http://{}:{}", o.http.host, r.bound_port());
  if (!o.pid_file.empty()) {
    if (FILE* f = std::fopen(o.pid_file.c_str(), "w")) {
      std::fprintf(f, "%d\n", static_cast<int>(getpid()));
      std::fclose(f);
    } else {
      LOG_WARN("cannot write --pid-file {}", o.pid_file);
    }
  }
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  set_reload_handler([&r] {
    if (Status st = r.reload(); !st) LOG_WARN("SIGHUP: {}", st.message());
  });
  set_graceful_stop([&](int) {
    std::lock_guard<std::mutex> lk(mu);
    stop = true;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [&] { return stop; });
  }
  set_reload_handler(nullptr);
  const int cut = r.drain(o.drain_timeout_s);
  r.stop();
  if (!o.pid_file.empty()) std::filesystem::remove(o.pid_file);
  LOG_INFO("router stopped ({} request(s) cut by the drain deadline)", cut);
  return 0;
}

}  // namespace shardlm
