// ResultQueue: events reach the consumer in push order, through notify + drain (the
// HTTP side, drains posted to one strand) and through pop (generate); the notify
// function is dropped after the final event.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "shardlm/engine/result-queue.h"

using namespace shardlm;

namespace {

RequestEvent text_event(int i, bool done = false) {
  RequestEvent e;
  e.text = std::to_string(i);
  e.done = done;
  return e;
}

// A single-threaded executor, like a connection's strand: tasks run in post order.
class Strand {
 public:
  Strand() : t_([this] { loop(); }) {}
  ~Strand() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    t_.join();
  }
  void post(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      q_.push_back(std::move(f));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || !q_.empty(); });
        if (q_.empty()) return;
        f = std::move(q_.front());
        q_.pop_front();
      }
      f();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  bool stop_ = false;
  std::thread t_;
};

}  // namespace

TEST(ResultQueue, PopReturnsEventsInOrderAndTimesOut) {
  ResultQueue q;
  EXPECT_FALSE(q.pop(0.01).has_value());
  q.push(text_event(1));
  q.push(text_event(2, true));
  auto a = q.pop(0.01), b = q.pop(0.01);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->text, "1");
  EXPECT_EQ(b->text, "2");
  EXPECT_TRUE(b->done);
  EXPECT_FALSE(q.pop(0.01).has_value());
}

TEST(ResultQueue, NotifyOncePerDrain) {
  ResultQueue q;
  int notified = 0;
  q.set_notify([&] { ++notified; });
  q.push(text_event(1));
  q.push(text_event(2));
  EXPECT_EQ(notified, 1);  // armed until a drain takes the queue
  std::vector<std::string> got;
  q.drain([&](RequestEvent&& e) { got.push_back(e.text); });
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2"}));
  q.push(text_event(3));
  EXPECT_EQ(notified, 2);
  q.push(text_event(4, true));
  q.push(text_event(5));  // after done: the notify function is gone
  EXPECT_EQ(notified, 2);
  got.clear();
  q.drain([&](RequestEvent&& e) { got.push_back(e.text); });
  EXPECT_EQ(got, (std::vector<std::string>{"3", "4", "5"}));
}

// A producer thread pushes while drains run on a strand: every event arrives once, in order.
TEST(ResultQueue, ConcurrentPushAndStrandDrainsKeepOrder) {
  constexpr int kEvents = 20000;
  auto q = std::make_shared<ResultQueue>();
  std::vector<int> got;
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  {
    Strand strand;
    q->set_notify([&, q] {
      strand.post([&, q] {
        q->drain([&](RequestEvent&& e) {
          got.push_back(std::stoi(e.text));
          if (e.done) {
            std::lock_guard<std::mutex> lk(done_mu);
            done = true;
            done_cv.notify_one();
          }
        });
      });
    });
    std::thread producer([&] {
      for (int i = 0; i < kEvents; ++i) q->push(text_event(i, i == kEvents - 1));
    });
    producer.join();
    std::unique_lock<std::mutex> lk(done_mu);
    ASSERT_TRUE(done_cv.wait_for(lk, std::chrono::seconds(30), [&] { return done; }));
  }
  ASSERT_EQ(static_cast<int>(got.size()), kEvents);
  for (int i = 0; i < kEvents; ++i) ASSERT_EQ(got[i], i);
}
