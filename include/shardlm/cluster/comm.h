// The MPI wrapper: every collective has a deadline (ARCHITECTURE §2).
// Non-blocking MPI (Ibcast/Iallreduce/Igather) + MPI_Test polling; a missed
// deadline or an MPI error calls the fatal handler, which logs the EXIT AUDIT and
// calls MPI_Abort (a pending collective cannot be cancelled). Only the engine
// thread (rank 0) or the worker loop calls into Comm (MPI_THREAD_FUNNELED).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "shardlm/core/status.h"

namespace shardlm {

class Comm {
 public:
  // MPI_Init_thread(FUNNELED) and MPI_ERRORS_RETURN on the world communicator.
  static Status init(int* argc, char*** argv);
  static void finalize();
  static bool initialized();

  static int rank();
  static int size();
  static int local_size();  // ranks on this node (MPI_COMM_TYPE_SHARED), 1 before init
  static std::string host();

  // cause: "collective_timeout", "eval_timeout", "peer_lost". Must not return.
  using FatalHandler = std::function<void(const std::string& cause, const std::string& detail)>;
  static void set_fatal_handler(FatalHandler h);
  // Any thread: from now on, every wait ends (fatal, cause "peer_lost") at most this many
  // seconds from now. A stopping server uses it so that a collective stuck on a peer that
  // is gone cannot hold up the shutdown past the heartbeat timeout.
  static void cap_deadlines(double seconds_from_now);
  [[noreturn]] static void fatal(const std::string& cause, const std::string& detail);

  // Collectives with a deadline in seconds. `what` names the operation in messages.
  static void bcast(void* buf, int64_t bytes, int root, double timeout_s, const char* what,
                    const char* timeout_cause = "collective_timeout");
  static void allreduce_sum(float* buf, int64_t n, double timeout_s, const char* what);
  // Returns the minimum of v over all ranks (used to agree on ok/failed).
  static int allreduce_min(int v, double timeout_s, const char* what, const char* timeout_cause = "collective_timeout");
  static void allreduce_max_f64(double* v, int n, double timeout_s, const char* what);
  // Fixed-size gather to root: recv (root only) holds size() * bytes. Point-to-point
  // underneath: a timeout names the ranks (and hosts) that did not send.
  static void gather(const void* send, int64_t bytes, void* recv, int root, double timeout_s, const char* what,
                     const char* timeout_cause = "collective_timeout");

  // Any thread: the engine thread's current wait on the other ranks (none when it is not
  // waiting): what for, the timeout cause it would end with (e.g. "collective_timeout"),
  // its limit and how long it has lasted. overdue(): past its deadline, which the engine
  // thread has not noticed yet (a starved process polls late).
  struct CurrentWait {
    std::string what, cause;
    double timeout_s = 0, waited_s = 0;
    bool overdue() const { return waited_s > timeout_s; }
  };
  static std::optional<CurrentWait> current_wait();

  // Seconds spent waiting in collectives since the last reset (this rank).
  static double collective_seconds();
  static void reset_collective_seconds();
};

}  // namespace shardlm
