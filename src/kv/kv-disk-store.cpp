// One rank's disk tier: scan at open, LRU within the budget, the writer thread.
#include "shardlm/kv/kv-disk-store.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "shardlm/core/log.h"

namespace shardlm {

namespace fs = std::filesystem;

KvDiskStore::KvDiskStore(const KvDiskOptions& opts, const KvDiskLayout& l, size_t payload_bytes)
    : opts_(opts), layout_(l), payload_bytes_(payload_bytes) {
  dir_ = (fs::path(opts.dir) / layout_dir_name(l)).string();
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || !fs::is_directory(dir_, ec)) {
    LOG_WARN("kv disk tier: cannot use {}: {}; blocks evicted from memory are recomputed", dir_, ec.message());
  } else {
    st_.usable = true;
    scan();
  }
  writer_ = std::thread([this] { writer_loop(); });
  LOG_INFO("kv disk tier: {} ({} blocks, {:.1f} MiB of {:.1f} MiB budget; {} bad files deleted)", dir_, st_.blocks,
           st_.bytes / 1048576.0, opts_.budget_bytes / 1048576.0, st_.bad_files);
}

KvDiskStore::~KvDiskStore() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

std::string KvDiskStore::path_of(uint64_t hash) const { return (fs::path(dir_) / block_file_name(hash)).string(); }

void KvDiskStore::scan() {
  struct Found {
    fs::file_time_type mtime;
    BlockFileHeader h;
  };
  std::vector<Found> good;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    std::string why;
    BlockFileHeader h;
    BlockFileError e = BlockFileError::foreign;
    if (p.extension() == ".kvb") e = read_block_header(p.string(), layout_, payload_bytes_, h, why);
    else why = "not a block file name";
    if (e == BlockFileError::none && p.filename().string() != block_file_name(h.key.hash)) {
      e = BlockFileError::foreign;
      why = "named for another hash";
    }
    if (e == BlockFileError::io) {
      ++st_.read_errors;
      LOG_WARN("kv disk tier: {}: {} (left alone)", p.string(), why);
      continue;
    }
    if (e != BlockFileError::none) {
      ++st_.bad_files;
      LOG_WARN("kv disk tier: {}: {} ({}); deleted", p.string(), why, block_file_error_name(e));
      fs::remove(p, ec);
      ec.clear();
      continue;
    }
    good.push_back({fs::last_write_time(p, ec), std::move(h)});
    ec.clear();
  }
  std::sort(good.begin(), good.end(), [](const Found& a, const Found& b) { return a.mtime < b.mtime; });
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& f : good) add_locked(f.h.key, f.h.file_bytes);
  st_.scanned_files = st_.blocks;
}

void KvDiskStore::event_locked(KvDiskEvent::Kind k, const BlockKey& key) {
  if (!opts_.events) return;
  KvDiskEvent e;
  e.kind = k;
  if (k == KvDiskEvent::added) e.key = key;
  else e.key.hash = key.hash;
  events_.push_back(std::move(e));
}

void KvDiskStore::add_locked(const BlockKey& key, uint64_t bytes) {
  if (auto it = entries_.find(key.hash); it != entries_.end()) {
    lru_.splice(lru_.end(), lru_, it->second.lru);
    return;
  }
  lru_.push_back(key.hash);
  entries_.emplace(key.hash, Entry{key, bytes, std::prev(lru_.end())});
  ++st_.blocks;
  st_.bytes += bytes;
  event_locked(KvDiskEvent::added, key);
  while (st_.bytes > opts_.budget_bytes && !lru_.empty()) {
    remove_locked(lru_.front(), true);
    ++st_.evicted_files;
  }
}

void KvDiskStore::remove_locked(uint64_t hash, bool delete_file) {
  auto it = entries_.find(hash);
  if (it == entries_.end()) return;
  event_locked(KvDiskEvent::removed, it->second.key);
  lru_.erase(it->second.lru);
  --st_.blocks;
  st_.bytes -= it->second.bytes;
  entries_.erase(it);
  if (delete_file) {
    std::error_code ec;
    fs::remove(path_of(hash), ec);
  }
}

bool KvDiskStore::offload(const BlockKey& key, std::vector<uint8_t> payload) {
  std::lock_guard<std::mutex> lk(mu_);
  if (auto it = entries_.find(key.hash); it != entries_.end() && it->second.key == key) {
    lru_.splice(lru_.end(), lru_, it->second.lru);
    return false;
  }
  if (!st_.usable || payload.size() != payload_bytes_ || static_cast<int>(queue_.size()) >= opts_.queue_blocks) {
    ++st_.write_drops;
    return false;
  }
  queue_.push_back({key, std::move(payload)});
  cv_.notify_one();
  return true;
}

void KvDiskStore::writer_loop() {
  for (;;) {
    Job j;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) {
        busy_ = false;
        idle_cv_.notify_all();
        return;  // stop_ with nothing left
      }
      j = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    write_one(j);
    {
      std::lock_guard<std::mutex> lk(mu_);
      busy_ = false;
      if (queue_.empty()) idle_cv_.notify_all();
    }
  }
}

void KvDiskStore::write_one(Job& j) {
  std::vector<uint8_t> bytes = encode_block_file(layout_, j.key, j.payload.data(), j.payload.size());
  j.payload = {};
  if (bytes.size() > opts_.budget_bytes) {
    std::lock_guard<std::mutex> lk(mu_);
    ++st_.write_drops;
    return;
  }
  Status s = write_block_file(path_of(j.key.hash), bytes);
  std::lock_guard<std::mutex> lk(mu_);
  if (!s) {
    ++st_.write_errors;
    LOG_WARN("kv disk tier: write failed, block dropped (it will be recomputed): {}", s.message());
    return;
  }
  ++st_.offloaded_blocks;
  st_.offloaded_bytes += bytes.size();
  add_locked(j.key, bytes.size());
}

bool KvDiskStore::restore(const BlockKey& key, uint8_t* payload) {
  std::unique_lock<std::mutex> lk(mu_);
  auto it = entries_.find(key.hash);
  if (it == entries_.end()) {
    ++st_.restore_misses;
    return false;
  }
  lru_.splice(lru_.end(), lru_, it->second.lru);
  const uint64_t bytes = it->second.bytes;
  lk.unlock();  // the writer may go on; a concurrent budget deletion shows as not_found
  std::string why;
  const BlockFileError e = read_block_file(path_of(key.hash), layout_, key, payload, payload_bytes_, why);
  lk.lock();
  if (e == BlockFileError::none) {
    ++st_.restored_blocks;
    st_.restored_bytes += bytes;
    return true;
  }
  if (e == BlockFileError::io) ++st_.read_errors;
  else if (e == BlockFileError::not_found) ++st_.restore_misses;
  else ++st_.bad_files;
  LOG_WARN("kv disk tier: restore of {} failed ({}: {}); recomputed", block_file_name(key.hash),
           block_file_error_name(e), why);
  remove_locked(key.hash, e != BlockFileError::io);
  return false;
}

void KvDiskStore::forget(uint64_t hash) {
  std::lock_guard<std::mutex> lk(mu_);
  remove_locked(hash, true);
}

bool KvDiskStore::contains(uint64_t hash) const {
  std::lock_guard<std::mutex> lk(mu_);
  return entries_.count(hash) > 0;
}

std::vector<KvDiskEvent> KvDiskStore::take_events() {
  std::lock_guard<std::mutex> lk(mu_);
  return std::exchange(events_, {});
}

KvDiskStats KvDiskStore::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return st_;
}

void KvDiskStore::flush() {
  std::unique_lock<std::mutex> lk(mu_);
  idle_cv_.wait(lk, [&] { return queue_.empty() && !busy_; });
}

}  // namespace shardlm
