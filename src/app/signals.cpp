// Process signals: SIGTERM/SIGINT stop gracefully (then at once), SIGHUP reloads or is
// ignored, and Open MPI's teardown of the job is recognised so that every rank drains
// and writes its EXIT AUDIT line before mpirun's SIGKILL.
//
// Open MPI 4.1's teardown (SIGTERM/SIGINT to mpirun, or a job abort after a rank died):
// each node's daemon sends its ranks SIGCONT, sleeps odls_base_sigkill_timeout (T)
// seconds, sends SIGTERM, sleeps T again, then SIGKILL. A SIGCONT from the parent (the
// daemon) to a rank that was not stopped is that sequence's first step: the rank starts
// its graceful stop then, T seconds before the SIGTERM, and writes its EXIT AUDIT line
// by itself shortly before the SIGKILL if the stop has not finished (a lost peer).
#include <signal.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "app/app.h"
#include "shardlm/core/log.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/cluster/exit-audit.h"

namespace shardlm {

namespace {
using Clock = std::chrono::steady_clock;

std::mutex g_stop_mu;
std::function<void(int)> g_stop;  // first SIGTERM/SIGINT goes here when set
std::function<void()> g_reload;   // SIGHUP goes here when set
SignalOptions g_opts;

int g_fds[2] = {-1, -1};
constexpr unsigned char kFromParent = 0x80;  // the byte's top bit: sent by the parent process
// One signal through the pipe: its number (| kFromParent) and when it arrived (CLOCK_MONOTONIC,
// as Clock), so that mpirun's SIGKILL is reckoned from the signal, not from when this
// process next ran (a loaded machine can hold it for seconds). 9 bytes: one atomic write.
constexpr size_t kRecord = 1 + sizeof(int64_t);

// Signal-thread state.
double g_stop_started_s = -1;  // when the graceful stop began (seconds on Clock), -1: not yet
// The ticker's view: when the process last resumed from a stop (SIGSTOP/SIGTSTP), in
// nanoseconds on Clock; a resumed process gets SIGCONT too, and that one is no teardown.
std::atomic<int64_t> g_resumed_ns{INT64_MIN / 2};
// When the teardown's SIGKILL is due, minus a margin (nanoseconds on Clock); max: none.
std::atomic<int64_t> g_audit_due_ns{INT64_MAX};

int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }
double now_s() { return static_cast<double>(now_ns()) * 1e-9; }

const char* signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    case SIGCONT: return "SIGCONT";
    default: return "signal";
  }
}

void on_signal(int sig, siginfo_t* si, void*) {  // async-signal-safe
  const int saved = errno;
  unsigned char rec[kRecord];
  rec[0] = static_cast<unsigned char>(sig);
  if (si && si->si_code == SI_USER && si->si_pid == getppid()) rec[0] |= kFromParent;
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const int64_t at = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  std::memcpy(rec + 1, &at, sizeof at);
  ssize_t r = write(g_fds[1], rec, sizeof rec);
  (void)r;
  errno = saved;
}

// Nanoseconds this thread has waited on a run queue (the second field of
// /proc/thread-self/schedstat), or -1 where the kernel does not say.
int64_t queued_ns() {
  std::FILE* f = std::fopen("/proc/thread-self/schedstat", "r");
  if (!f) return -1;
  unsigned long long run = 0, wait = 0;
  const int n = std::fscanf(f, "%llu %llu", &run, &wait);
  std::fclose(f);
  return n == 2 ? static_cast<int64_t>(wait) : -1;
}

// A thread that wakes every 100 ms: a gap of over a second that it did not spend waiting
// for a CPU means the process was stopped (it records when it resumed; a loaded machine
// can hold a runnable thread off the CPU for seconds, and that is no stop), and it writes
// the EXIT AUDIT when the teardown's SIGKILL is close.
void ticker() {
  int64_t last = now_ns(), last_queued = queued_ns();
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const int64_t t = now_ns(), q = queued_ns();
    const int64_t waited_for_cpu = q >= 0 && last_queued >= 0 ? q - last_queued : 0;
    if (t - last - waited_for_cpu > 1'000'000'000) g_resumed_ns.store(t);
    last = t;
    last_queued = q;
    if (t >= g_audit_due_ns.load()) {
      // Audited already: the rank was exiting (stuck in MPI_Finalize); end it cleanly.
      // A wait already past its own deadline is that timeout (the engine thread, held
      // off the CPU, had not polled since): it names the fault, where the teardown
      // that another rank's timeout started only names its consequence. Not where this
      // process was stopped during the wait (SIGSTOP): then it is the fault itself.
      bool first = false;
      const auto w = Comm::current_wait();
      const bool overdue =
          w && w->overdue() && g_resumed_ns.load() < t - static_cast<int64_t>(w->waited_s * 1e9);
      if (overdue) {
        first = exit_audit(w->cause, fmt::format("{} TIMED OUT after {:.0f} s (seen {:.1f} s into the wait, at mpirun's "
                                                 "teardown; a peer rank died, hung or lost its network)",
                                                 w->what, w->timeout_s, w->waited_s));
      } else {
        std::string detail = "the stop did not finish before mpirun's SIGKILL";
        if (w && w->waited_s > 0)
          detail += fmt::format(" (waiting {:.1f} s for the other ranks: {})", w->waited_s, w->what);
        first = exit_audit("mpirun_teardown", detail);
      }
      _exit(first ? 128 + SIGTERM : 0);
    }
  }
}

// Starts the graceful stop (true), or returns false when there is none to start.
bool begin_stop(int sig) {
  std::function<void(int)> stop;
  {
    std::lock_guard<std::mutex> lk(g_stop_mu);
    stop.swap(g_stop);  // only the first request stops gracefully
  }
  if (!stop) return false;
  g_stop_started_s = now_s();
  stop(sig);
  return true;
}

// Open MPI is tearing the job down; SIGKILL follows about `left_s` seconds after the
// signal arrived (`at_ns`). The margin leaves the ticker room on a machine that holds
// this process off the CPU for a second or two.
void on_teardown(int sig, double left_s, int64_t at_ns) {
  const double margin = std::min(2.0, left_s / 4);
  const int64_t due = at_ns + static_cast<int64_t>((left_s - margin) * 1e9);
  left_s -= static_cast<double>(now_ns() - at_ns) * 1e-9;
  if (due < g_audit_due_ns.load()) g_audit_due_ns.store(due);
  if (g_stop_started_s >= 0) {
    LOG_INFO("{} from mpirun: its teardown goes on; this rank is already stopping (EXIT AUDIT in {:.1f} s at the latest)",
             signal_name(sig), left_s - margin);
    return;
  }
  LOG_INFO("{} from mpirun: it is ending the job (SIGKILL in about {:.1f} s): stopping", signal_name(sig), left_s);
  // No graceful stop here (generate, or serve before the engine runs): the process goes
  // on, and the ticker writes the EXIT AUDIT before the SIGKILL if it has not exited.
  if (!begin_stop(sig == SIGCONT ? SIGTERM : sig)) g_stop_started_s = now_s();
}

void handle(unsigned char b, int64_t at_ns) {
  const bool parent = (b & kFromParent) != 0 && g_opts.under_mpirun;
  const int sig = b & ~kFromParent;
  const double grace = g_opts.mpirun_sigkill_timeout_s;
  if (sig == SIGCONT) {
    if (!parent) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the ticker see a stop's gap
    if (now_ns() - g_resumed_ns.load() < 2'000'000'000) {
      LOG_INFO("SIGCONT from mpirun after a stop: running on");
      return;
    }
    return on_teardown(sig, 2 * grace, at_ns);
  }
  if (sig == SIGHUP && g_opts.world_size > 1) {
    LOG_WARN("SIGHUP ignored (running on {} ranks)", g_opts.world_size);
    return;
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
      return;
    }
  }
  if (parent && sig != SIGHUP) return on_teardown(sig, grace, at_ns);
  const char* name = signal_name(sig);
  if (sig != SIGHUP && g_stop_started_s < 0) {
    LOG_INFO("{} received: stopping (send it again to exit at once)", name);
    if (begin_stop(sig)) return;
  } else if (sig != SIGHUP && g_opts.under_mpirun && now_s() - g_stop_started_s < 1.0) {
    // One key press reaches mpirun and every rank: its copies are the same request. (A
    // process not under mpirun, the router, gets one copy: its second signal is meant.)
    LOG_INFO("{} received again within 1 s of the stop: the same request", name);
    return;
  }
  exit_audit(std::string("signal_") + name);
  _exit(128 + sig);
}
}  // namespace

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

void set_reload_handler(std::function<void()> fn) {
  std::lock_guard<std::mutex> lk(g_stop_mu);
  g_reload = std::move(fn);
}

void set_graceful_stop(std::function<void(int)> fn) {
  std::lock_guard<std::mutex> lk(g_stop_mu);
  g_stop = std::move(fn);
}

void install_signal_handlers(const SignalOptions& opts) {
  // An async-signal-safe handler forwards each signal through a pipe to one thread that
  // acts on it with no async-signal-safety limits (logging, EXIT AUDIT). A handler, not
  // a blocked mask + sigwait: libraries (OpenBLAS, MPI) start threads before main()
  // whose masks we do not control, and the default action there would kill the process.
  g_opts = opts;
  if (pipe2(g_fds, O_CLOEXEC) != 0) {
    LOG_WARN("signal pipe: {}", std::strerror(errno));
    return;
  }
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
  if (opts.under_mpirun) {
    sigaction(SIGCONT, &sa, nullptr);
    std::thread(ticker).detach();
  }
  std::thread([] {
    for (;;) {
      unsigned char rec[kRecord];
      size_t got = 0;
      while (got < sizeof rec) {
        const ssize_t n = read(g_fds[0], rec + got, sizeof rec - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        got += static_cast<size_t>(n);
      }
      int64_t at = 0;
      std::memcpy(&at, rec + 1, sizeof at);
      handle(rec[0], at);
    }
  }).detach();
}

}  // namespace shardlm
