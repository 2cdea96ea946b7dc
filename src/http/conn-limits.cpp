#include "http/conn-limits.h"

namespace shardlm::http::detail {

ConnLimits::ConnLimits(int max_total, int max_per_client, int reserved)
    : max_total_(max_total), max_per_client_(max_per_client), reserved_(reserved) {}

Admission ConnLimits::admit(const std::string& addr) {
  std::lock_guard<std::mutex> lk(mu_);
  if (total_ >= max_total_) return Admission::reject_total;
  auto it = per_client_.find(addr);
  if (it != per_client_.end() && it->second >= max_per_client_) return Admission::reject_client;
  ++total_;
  ++per_client_[addr];
  return total_ > max_total_ - reserved_ ? Admission::restricted : Admission::full;
}

void ConnLimits::release(const std::string& addr) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = per_client_.find(addr);
  if (it == per_client_.end()) return;
  --total_;
  if (--it->second <= 0) per_client_.erase(it);
}

int ConnLimits::open() const {
  std::lock_guard<std::mutex> lk(mu_);
  return total_;
}

}  // namespace shardlm::http::detail
