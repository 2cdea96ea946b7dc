// One persistent compute pool per rank. The calling thread takes part in the work,
// so a pool of N threads keeps N cores busy (N-1 workers + the caller). Between
// regions, workers (and the caller waiting for them) spin for up to 100 us on atomics
// before blocking, so back-to-back regions (one per matmul in decode) start without a
// futex wake-up.
// Owned by the engine thread (rank 0) or the worker loop; not reentrant.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace shardlm {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Split [0, n) into contiguous chunks of at least `grain` items and run
  // fn(begin, end, thread_index) on the pool; returns when all are done.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void worker(int index);
  int n_threads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_start_, cv_done_;
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0, job_chunk_ = 0;       // written before generation_ is bumped
  std::atomic<int64_t> next_{0};
  std::atomic<int> pending_{0};              // workers still in the current region
  std::atomic<uint64_t> generation_{0};      // one per region (release: the job fields)
  std::atomic<bool> stop_{false};
};

}  // namespace shardlm
