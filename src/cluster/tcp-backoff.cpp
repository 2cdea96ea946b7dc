#include "shardlm/cluster/tcp-backoff.h"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "shardlm/core/log.h"

#ifndef TCP_RTO_MAX_MS
#define TCP_RTO_MAX_MS 44  // linux/tcp.h since 6.15; Debian 12's headers predate it
#endif

namespace shardlm {

TcpBackoffPass cap_tcp_backoff_once(int rto_max_ms) {
  TcpBackoffPass p;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return p;
  const int self = dirfd(d);
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == self) continue;
    int proto = 0;
    socklen_t len = sizeof proto;
    // Not a socket (ENOTSOCK), or closed meanwhile (EBADF): skipped.
    if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_PROTOCOL, &proto, &len) != 0 || proto != IPPROTO_TCP) continue;
    ++p.tcp_sockets;
    int cur = 0;
    len = sizeof cur;
    if (getsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_RTO_MAX_MS, &cur, &len) == 0 && cur == rto_max_ms) {
      ++p.capped;
      continue;
    }
    if (setsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_RTO_MAX_MS, &rto_max_ms, sizeof rto_max_ms) == 0) ++p.capped;
    else p.errno_seen = errno;
  }
  closedir(d);
  return p;
}

void start_tcp_backoff_cap(const TcpBackoffOptions& o) {
  if (o.rto_max_ms <= 0) return;
  std::thread([o] {
    int logged = -1;  // the capped count last logged
    for (;;) {
      const TcpBackoffPass p = cap_tcp_backoff_once(o.rto_max_ms);
      if (p.errno_seen != 0) {
        LOG_WARN("TCP_RTO_MAX_MS {} ms refused ({}; Linux 6.15 or later takes 1000..120000): after a link cut, "
                 "MPI's TCP traffic waits for the kernel's retransmission backoff",
                 o.rto_max_ms, std::strerror(p.errno_seen));
        return;
      }
      if (p.capped != logged) {
        LOG_DEBUG("TCP retransmission backoff capped at {} ms on {} sockets", o.rto_max_ms, p.capped);
        logged = p.capped;
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(o.rescan_s));
    }
  }).detach();
}

}  // namespace shardlm
