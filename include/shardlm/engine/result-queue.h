// A request's results on their way from the engine thread to whoever asked: events in
// order, the last one with done. One producer (the engine thread), one consumer.
//
// Two ways to consume:
//   - notify + drain (the HTTP threads): set_notify(fn) before submitting; push() calls
//     fn on the engine thread when the queue goes from idle to non-empty. fn must not
//     block: it posts a task that calls drain() on the consumer's own thread (the
//     connection's strand). drain() hands every queued event over in order and re-arms
//     the notification; a push during a drain posts another task after it, so events
//     stay in order as long as the tasks run in order (one strand).
//   - pop (a thread that may block, `shardlm generate`).
// After the done event the notify function is dropped (no reference cycle with the
// consumer's state).
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

#include "shardlm/engine/request-result.h"

namespace shardlm {

class ResultQueue {
 public:
  // Producer (engine thread). Never blocks beyond a short mutex.
  void push(RequestEvent e);

  // Consumer.
  void set_notify(std::function<void()> fn);
  void drain(const std::function<void(RequestEvent&&)>& fn);
  // Waits up to timeout_s for the next event; nullopt when none came.
  std::optional<RequestEvent> pop(double timeout_s);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RequestEvent> q_;
  std::function<void()> notify_;
  bool armed_ = false;  // a notification is out and its drain has not taken the queue yet
};

}  // namespace shardlm
