// The TCP retransmission backoff of a rank's sockets, capped (issue 19 point 2).
//
// A link cut stalls MPI's TCP transport (Open MPI's TCP BTL) in the kernel's
// retransmission timer: its backoff doubles from about 200 ms, so after a cut of C
// seconds the next retransmission, the one that finds the link back, comes up to about
// C seconds later (Linux caps the backoff at 120 s). Open MPI has no parameter for it;
// Linux 6.15 added the socket option TCP_RTO_MAX_MS (1000 ms at least). A thread of
// every rank sets it on the process's TCP sockets, MPI's included (Open MPI opens them
// lazily, at a pair's first message), so that after a cut shorter than the step
// deadline the next retransmission comes at most rto_max_ms after the link is back. On
// an older kernel it logs once that the option is missing and changes nothing.
// Off by default: on the namespace test bed the kernel's own backoff already healed
// 2-12 s cuts within 0.1-3 s, and the cap showed no gain there (docs/benchmarks.md,
// "stopping, Open MPI's teardown, healed cuts").
#pragma once

namespace shardlm {

struct TcpBackoffOptions {
  int rto_max_ms = 0;        // --tcp-rto-max-ms: the cap (Linux takes 1000..120000); 0 = the kernel's own
  double rescan_s = 1.0;     // how often new sockets are looked for
};

// What one pass over the process's file descriptors did.
struct TcpBackoffPass {
  int tcp_sockets = 0;  // TCP sockets found
  int capped = 0;       // of those, the cap is set on (it was already, or now)
  int errno_seen = 0;   // the error of a refused setsockopt (ENOPROTOOPT: kernel before 6.15), 0 if none
};

// One pass: every TCP socket of this process gets the cap (idempotent).
TcpBackoffPass cap_tcp_backoff_once(int rto_max_ms);

// Starts the thread that repeats the pass every rescan_s (no-op when rto_max_ms is 0).
void start_tcp_backoff_cap(const TcpBackoffOptions& o);

}  // namespace shardlm
