#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "shardlm/core/thread-pool.h"

using namespace shardlm;

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 7, 100, 10007}) {
      std::vector<std::atomic<int>> hits(n);
      for (int rep = 0; rep < 3; ++rep)
        pool.parallel_for(n, 3, [&](int64_t b, int64_t e, int t) {
          EXPECT_LT(t, threads);
          for (int64_t i = b; i < e; ++i) hits[i]++;
        });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 3) << "n=" << n << " i=" << i;
    }
  }
}

// Many short regions back to back (workers still spinning from the last one), and
// regions after a pause long enough for the workers to block: every region sees all
// of its indices done when parallel_for returns, and the results of the previous one.
TEST(ThreadPool, BackToBackAndAfterSleepRegions) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    std::vector<int64_t> v(64, 0);
    for (int region = 0; region < 20000; ++region) {
      pool.parallel_for(64, 1, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; ++i) v[i] += 1;
      });
      if (region % 5000 == 4999) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    for (int64_t x : v) ASSERT_EQ(x, 20000);
  }
}
