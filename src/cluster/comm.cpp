#include "shardlm/cluster/comm.h"

#include <mpi.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "shardlm/core/log.h"

namespace shardlm {

namespace {
Comm::FatalHandler g_fatal;
double g_coll_s = 0;
int g_rank = 0, g_size = 1, g_local_size = 1;
bool g_init = false;

using Clock = std::chrono::steady_clock;
// Comm::cap_deadlines(): no wait may last past this point (nanoseconds of Clock; 0 = none).
std::atomic<int64_t> g_cap_ns{0};

// The wait now in progress on the engine thread, once it has lasted past the spinning
// phase (for /health and /admin/status; any thread reads it).
std::mutex g_wait_mu;
std::string g_wait_what;
std::string g_wait_cause;       // its timeout cause (under g_wait_mu)
double g_wait_timeout_s = 0;    // its deadline, seconds after the start (under g_wait_mu)
std::atomic<int64_t> g_wait_start_ns{0};
std::vector<std::string> g_hosts;  // host of each rank (from init)

std::string host_of(int r) {
  return r >= 0 && r < static_cast<int>(g_hosts.size()) ? g_hosts[static_cast<size_t>(r)] : std::string("?");
}

// Polls reqs[0..n) until all complete or the deadline passes. Spins briefly (a small
// collective completes in microseconds), then yields, then sleeps in short steps so
// that a waiting rank leaves the CPU to ranks that are still computing. peers: the
// rank each request talks to (point-to-point), so that a timeout names the ranks that
// did not answer; null for collectives.
void wait_deadline(MPI_Request* reqs, int n, double timeout_s, const char* what, const char* timeout_cause,
                   const int* peers = nullptr) {
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  long iter = 0;
  int left = n;
  bool published = false;
  for (;;) {
    for (int i = 0; i < n; ++i) {
      if (reqs[i] == MPI_REQUEST_NULL) continue;
      int done = 0;
      MPI_Status st;
      int rc = MPI_Test(&reqs[i], &done, &st);
      if (rc != MPI_SUCCESS) {
        char msg[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, msg, &len);
        const std::string peer = peers ? fmt::format(" (rank {}, host {})", peers[i], host_of(peers[i])) : "";
        Comm::fatal("peer_lost", fmt::format("{} failed{}: {}", what, peer, std::string(msg, len)));
      }
      if (done) {
        reqs[i] = MPI_REQUEST_NULL;
        --left;
      }
    }
    if (left == 0) break;
    ++iter;
    if (iter < 2000) continue;
    if (!published) {
      std::lock_guard<std::mutex> lk(g_wait_mu);
      const std::string w = what;
      g_wait_what = w.substr(0, w.find('|'));
      g_wait_cause = timeout_cause;
      g_wait_timeout_s = timeout_s;
      g_wait_start_ns.store(t0.time_since_epoch().count(), std::memory_order_relaxed);
      published = true;
    }
    if ((iter & 63) == 0) {
      const int64_t cap = g_cap_ns.load(std::memory_order_relaxed);
      if (cap != 0 && Clock::now().time_since_epoch().count() > cap)
        Comm::fatal("peer_lost", fmt::format("{} did not complete after the stop request (a peer rank is gone)", what));
    }
    if ((iter & 63) == 0 && Clock::now() > deadline) {
      // what = "name|context": "eval_with_timeout TIMED OUT after 300 s (layer 3; ...)"
      std::string w = what, ctx;
      if (auto bar = w.find('|'); bar != std::string::npos) {
        ctx = w.substr(bar + 1) + "; ";
        w = w.substr(0, bar);
      }
      std::string missing;
      if (peers)
        for (int i = 0; i < n; ++i)
          if (reqs[i] != MPI_REQUEST_NULL)
            missing += fmt::format("{}rank {} (host {})", missing.empty() ? "" : ", ", peers[i], host_of(peers[i]));
      if (!missing.empty())
        Comm::fatal(timeout_cause, fmt::format("{} TIMED OUT after {:.0f} s: no reply from {} ({}the rank died, hung or "
                                               "lost its network)", w, timeout_s, missing, ctx));
      Comm::fatal(timeout_cause, fmt::format("{} TIMED OUT after {:.0f} s ({}a peer rank died, hung or lost its network)",
                                             w, timeout_s, ctx));
    }
    if (iter < 20000) {
      sched_yield();
    } else {
      struct timespec ts{0, 100000};  // 100 us
      nanosleep(&ts, nullptr);
    }
  }
  if (published) g_wait_start_ns.store(0, std::memory_order_relaxed);
  g_coll_s += std::chrono::duration<double>(Clock::now() - t0).count();
}
void wait_deadline(MPI_Request* req, double timeout_s, const char* what, const char* timeout_cause) {
  wait_deadline(req, 1, timeout_s, what, timeout_cause);
}
}  // namespace

Status Comm::init(int* argc, char*** argv) {
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return Status::error("MPI_Init_thread failed");
  if (provided < MPI_THREAD_FUNNELED) return Status::error("MPI does not provide MPI_THREAD_FUNNELED");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  // Ranks on this node (they share its cores).
  MPI_Comm node;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
    MPI_Comm_size(node, &g_local_size);
    MPI_Comm_free(&node);
  }
  // Every rank's host name, so that a timeout can say where the silent rank runs.
  char me[64] = {0};
  gethostname(me, sizeof me - 1);
  std::vector<char> all(static_cast<size_t>(g_size) * sizeof me);
  if (MPI_Allgather(me, sizeof me, MPI_CHAR, all.data(), sizeof me, MPI_CHAR, MPI_COMM_WORLD) == MPI_SUCCESS)
    for (int r = 0; r < g_size; ++r) g_hosts.emplace_back(all.data() + static_cast<size_t>(r) * sizeof me);
  g_init = true;
  return Status::ok();
}

void Comm::finalize() {
  if (g_init) MPI_Finalize();
  g_init = false;
}

bool Comm::initialized() { return g_init; }
int Comm::rank() { return g_rank; }
int Comm::local_size() { return g_local_size; }
int Comm::size() { return g_size; }

std::string Comm::host() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

void Comm::set_fatal_handler(FatalHandler h) { g_fatal = std::move(h); }

void Comm::cap_deadlines(double seconds_from_now) {
  const auto t = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds_from_now));
  g_cap_ns.store(t.time_since_epoch().count(), std::memory_order_relaxed);
}

void Comm::fatal(const std::string& cause, const std::string& detail) {
  LOG_ERROR("{}: {}", cause, detail);
  if (g_fatal) g_fatal(cause, detail);
  spdlog::default_logger()->flush();
  std::fflush(nullptr);
  // MPI_Abort can block when the job is already being torn down (a peer died and
  // mpirun is aborting): give it two seconds, then leave anyway.
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    _exit(3);
  }).detach();
  if (g_init) MPI_Abort(MPI_COMM_WORLD, 3);
  _exit(3);
}

void Comm::bcast(void* buf, int64_t bytes, int root, double timeout_s, const char* what, const char* timeout_cause) {
  if (g_size == 1) return;
  if (bytes > INT_MAX) fatal("error", fmt::format("{}: message of {} bytes too large", what, bytes));
  MPI_Request req;
  if (MPI_Ibcast(buf, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD, &req) != MPI_SUCCESS)
    fatal("peer_lost", fmt::format("{}: MPI_Ibcast failed", what));
  wait_deadline(&req, timeout_s, what, timeout_cause);
}

void Comm::allreduce_sum(float* buf, int64_t n, double timeout_s, const char* what) {
  if (g_size == 1) return;
  MPI_Request req;
  if (MPI_Iallreduce(MPI_IN_PLACE, buf, static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req) != MPI_SUCCESS)
    fatal("peer_lost", fmt::format("{}: MPI_Iallreduce failed", what));
  wait_deadline(&req, timeout_s, what, "collective_timeout");
}

int Comm::allreduce_min(int v, double timeout_s, const char* what, const char* timeout_cause) {
  if (g_size == 1) return v;
  MPI_Request req;
  int out = v;
  if (MPI_Iallreduce(&v, &out, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD, &req) != MPI_SUCCESS)
    fatal("peer_lost", fmt::format("{}: MPI_Iallreduce failed", what));
  wait_deadline(&req, timeout_s, what, timeout_cause);
  return out;
}

void Comm::allreduce_max_f64(double* v, int n, double timeout_s, const char* what) {
  if (g_size == 1) return;
  MPI_Request req;
  if (MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD, &req) != MPI_SUCCESS)
    fatal("peer_lost", fmt::format("{}: MPI_Iallreduce failed", what));
  wait_deadline(&req, timeout_s, what, "collective_timeout");
}

// Point-to-point (root receives from each rank on its own request), so that a timeout
// names the ranks that did not answer. Messages are small (statistics, candidates).
void Comm::gather(const void* send, int64_t bytes, void* recv, int root, double timeout_s, const char* what,
                  const char* timeout_cause) {
  if (g_size == 1) {
    if (bytes > 0) std::memcpy(recv, send, bytes);
    return;
  }
  if (bytes > INT_MAX) fatal("error", fmt::format("{}: message of {} bytes too large", what, bytes));
  constexpr int kTag = 7001;
  if (g_rank != root) {
    MPI_Request req;
    if (MPI_Isend(send, static_cast<int>(bytes), MPI_BYTE, root, kTag, MPI_COMM_WORLD, &req) != MPI_SUCCESS)
      fatal("peer_lost", fmt::format("{}: MPI_Isend failed", what));
    wait_deadline(&req, 1, timeout_s, what, timeout_cause, &root);
    return;
  }
  if (bytes > 0) std::memcpy(static_cast<uint8_t*>(recv) + static_cast<size_t>(root) * bytes, send, bytes);
  std::vector<MPI_Request> reqs;
  std::vector<int> peers;
  for (int r = 0; r < g_size; ++r) {
    if (r == root) continue;
    MPI_Request req;
    if (MPI_Irecv(static_cast<uint8_t*>(recv) + static_cast<size_t>(r) * bytes, static_cast<int>(bytes), MPI_BYTE, r,
                  kTag, MPI_COMM_WORLD, &req) != MPI_SUCCESS)
      fatal("peer_lost", fmt::format("{}: MPI_Irecv from rank {} failed", what, r));
    reqs.push_back(req);
    peers.push_back(r);
  }
  wait_deadline(reqs.data(), static_cast<int>(reqs.size()), timeout_s, what, timeout_cause, peers.data());
}

std::optional<Comm::CurrentWait> Comm::current_wait() {
  std::lock_guard<std::mutex> lk(g_wait_mu);  // a wait publishes its start and fields under it
  const int64_t start = g_wait_start_ns.load(std::memory_order_relaxed);
  if (start == 0) return std::nullopt;
  const double waited = std::max(0.0, static_cast<double>(Clock::now().time_since_epoch().count() - start) * 1e-9);
  return CurrentWait{g_wait_what, g_wait_cause, g_wait_timeout_s, waited};
}

double Comm::collective_seconds() { return g_coll_s; }
void Comm::reset_collective_seconds() { g_coll_s = 0; }

}  // namespace shardlm
