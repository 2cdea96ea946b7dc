// cap_tcp_backoff_once: every TCP socket of the process gets TCP_RTO_MAX_MS, listening,
// connected and accepted alike; UDP sockets, pipes and files are left alone.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <gtest/gtest.h>

#include "shardlm/cluster/tcp-backoff.h"

#ifndef TCP_RTO_MAX_MS
#define TCP_RTO_MAX_MS 44
#endif

namespace shardlm {
namespace {

int rto_max_of(int fd) {
  int v = -1;
  socklen_t len = sizeof v;
  return getsockopt(fd, IPPROTO_TCP, TCP_RTO_MAX_MS, &v, &len) == 0 ? v : -errno;
}

TEST(TcpBackoff, CapsEveryTcpSocketOnly) {
  // A loopback connection: listener, client, accepted.
  const int lst = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(lst, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(lst, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(lst, 1), 0);
  socklen_t al = sizeof a;
  ASSERT_EQ(getsockname(lst, reinterpret_cast<sockaddr*>(&a), &al), 0);
  const int cli = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(cli, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const int acc = accept(lst, nullptr, nullptr);
  ASSERT_GE(acc, 0);
  const int udp = socket(AF_INET, SOCK_DGRAM, 0);
  int pfd[2];
  ASSERT_EQ(pipe(pfd), 0);

  if (rto_max_of(cli) < 0) GTEST_SKIP() << "this kernel has no TCP_RTO_MAX_MS (Linux 6.15 or later)";
  const int before = rto_max_of(cli);
  ASSERT_NE(before, 2500);  // the kernel's default (net.ipv4.tcp_rto_max_ms, 120000 unless changed)

  const TcpBackoffPass p = cap_tcp_backoff_once(2500);
  EXPECT_EQ(p.errno_seen, 0);
  EXPECT_GE(p.tcp_sockets, 3);  // the three above (gtest itself opens none)
  EXPECT_EQ(p.capped, p.tcp_sockets);
  EXPECT_EQ(rto_max_of(lst), 2500);
  EXPECT_EQ(rto_max_of(cli), 2500);
  EXPECT_EQ(rto_max_of(acc), 2500);
  int proto = 0;
  socklen_t len = sizeof proto;
  ASSERT_EQ(getsockopt(udp, SOL_SOCKET, SO_PROTOCOL, &proto, &len), 0);
  EXPECT_EQ(proto, IPPROTO_UDP);

  // Idempotent: a second pass finds them capped already.
  const TcpBackoffPass q = cap_tcp_backoff_once(2500);
  EXPECT_EQ(q.capped, p.capped);
  EXPECT_EQ(q.errno_seen, 0);

  // Below the kernel's minimum (1000 ms) the option is refused, and said so.
  const TcpBackoffPass r = cap_tcp_backoff_once(500);
  EXPECT_EQ(r.errno_seen, EINVAL);
  EXPECT_EQ(rto_max_of(cli), 2500);

  for (int fd : {lst, cli, acc, udp, pfd[0], pfd[1]}) close(fd);
}

}  // namespace
}  // namespace shardlm
