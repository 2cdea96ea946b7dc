// Connection admission (see HttpServerConfig): a global limit, a per-client-address
// limit, and a reserve at the top of the global limit for open paths only (/health).
// Thread-safe (one mutex); the acceptor admits, a connection releases when it closes.
// Private to src/http.
#pragma once
#include <mutex>
#include <string>
#include <unordered_map>

namespace shardlm::http::detail {

enum class Admission {
  full,           // any request, keep-alive
  restricted,     // in the reserve: one request, open paths only
  reject_client,  // its address holds max_connections_per_client already: 503 and close
  reject_total,   // max_connections open: 503 and close
};

class ConnLimits {
 public:
  ConnLimits(int max_total, int max_per_client, int reserved);
  // full / restricted count a slot for addr (release() it once closed); rejections count none.
  Admission admit(const std::string& addr);
  void release(const std::string& addr);
  int open() const;  // slots held now

 private:
  const int max_total_, max_per_client_, reserved_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, int> per_client_;
  int total_ = 0;
};

}  // namespace shardlm::http::detail
