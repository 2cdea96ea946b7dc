// Progress: a progress bar on stderr. On a terminal, one line redrawn in place (at most
// every 100 ms); otherwise a log line at every 10% step. Any thread may call add().
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

namespace shardlm::bench {

class Progress {
 public:
  // enabled=false: silent.
  Progress(std::string label, size_t total, bool enabled = true);
  ~Progress();  // finish()
  void add(size_t n = 1, bool failed = false);
  void finish();

 private:
  void draw(bool final_line);
  std::string label_;
  size_t total_;
  bool enabled_, tty_;
  std::atomic<size_t> done_{0}, failed_{0};
  std::mutex mu_;  // guards the fields below and stderr writes
  std::chrono::steady_clock::time_point start_, last_draw_;
  int last_decile_ = -1;
  bool finished_ = false;
};

}  // namespace shardlm::bench
