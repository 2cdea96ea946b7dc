#include "shardlm/engine/result-queue.h"

namespace shardlm {

void ResultQueue::push(RequestEvent e) {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> lk(mu_);
    const bool done = e.done;
    q_.push_back(std::move(e));
    if (notify_ && !armed_) {
      armed_ = true;
      fn = notify_;
    }
    if (done) notify_ = nullptr;
  }
  cv_.notify_one();
  if (fn) fn();
}

void ResultQueue::set_notify(std::function<void()> fn) {
  std::lock_guard<std::mutex> lk(mu_);
  notify_ = std::move(fn);
  armed_ = false;
}

void ResultQueue::drain(const std::function<void(RequestEvent&&)>& fn) {
  std::deque<RequestEvent> got;
  {
    std::lock_guard<std::mutex> lk(mu_);
    got.swap(q_);
    armed_ = false;
  }
  for (auto& e : got) fn(std::move(e));
}

std::optional<RequestEvent> ResultQueue::pop(double timeout_s) {
  std::unique_lock<std::mutex> lk(mu_);
  if (!cv_.wait_for(lk, std::chrono::duration<double>(timeout_s), [&] { return !q_.empty(); })) return std::nullopt;
  RequestEvent e = std::move(q_.front());
  q_.pop_front();
  return e;
}

}  // namespace shardlm
