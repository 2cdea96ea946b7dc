#include "shardlm/bench/progress.h"

#include <unistd.h>

#include <cstdio>

namespace shardlm::bench {

Progress::Progress(std::string label, size_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled && total > 0), tty_(isatty(STDERR_FILENO) != 0) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

void Progress::add(size_t n, bool failed) {
  done_ += n;
  if (failed) failed_ += n;
  if (!enabled_) return;
  std::lock_guard<std::mutex> lk(mu_);
  if (finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ >= std::chrono::milliseconds(100) || done_ >= total_) {
      last_draw_ = now;
      draw(false);
    }
  } else {
    const int decile = static_cast<int>(done_ * 10 / total_);
    if (decile > last_decile_) {
      last_decile_ = decile;
      draw(false);
    }
  }
}

void Progress::finish() {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lk(mu_);
  if (finished_) return;
  finished_ = true;
  if (tty_) {
    draw(true);
  } else if (last_decile_ < 10) {
    draw(true);
  }
}

void Progress::draw(bool final_line) {
  const size_t d = std::min(done_.load(), total_);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int width = 30;
  const int fill = static_cast<int>(d * width / total_);
  const size_t f = failed_.load();
  if (tty_) {
    std::string bar(static_cast<size_t>(fill), '#');
    bar.append(static_cast<size_t>(width - fill), '.');
    std::fprintf(stderr, "\r%s [%s] %zu/%zu%s %.1fs\033[K%s", label_.c_str(), bar.c_str(), d, total_,
                 f ? (" (" + std::to_string(f) + " failed)").c_str() : "", secs, final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s: %zu/%zu requests (%zu%%)%s, %.1f s\n", label_.c_str(), d, total_, d * 100 / total_,
                 f ? (", " + std::to_string(f) + " failed").c_str() : "", secs);
  }
  std::fflush(stderr);
}

}  // namespace shardlm::bench
