// One rank's disk tier of KV blocks (ARCHITECTURE §5): block files (kv/kv-disk-file.h)
// under this rank's layout directory, an LRU list within a byte budget, and a writer
// thread behind a bounded queue.
//
// Threads: the owner (the engine thread on rank 0, the worker loop elsewhere) calls
// offload(), restore(), forget() and take_events(); the writer thread writes queued
// blocks and deletes files past the budget. One mutex guards the entries, the queue and
// the event list; file I/O happens outside it, except restore's read of one file.
//
// Never stalls the engine: offload() copies nothing more than the caller's payload into
// the queue, and drops the block (counted) when the queue is full. Errors (a directory
// that cannot be made, a full disk, a read-only file system, a bad file) are counted and
// logged; the store then has fewer or no blocks, never a wrong one: every restore
// checks the file's layout, key and checksum.
//
// Rank 0's scheduler keeps its index of blocks on disk from this store's events (added
// after a write completes or a scan finds a good file; removed when a file goes). The
// workers' stores are not mirrored: a restore that fails on any rank is reported through
// the step's restore allreduce and recomputed (protocol/step-msg.h).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "shardlm/kv/kv-disk-file.h"

namespace shardlm {

struct KvDiskOptions {
  std::string dir;               // --kv-disk-dir: the tier's root (this rank's layout directory goes under it)
  uint64_t budget_bytes = 0;     // --kv-disk-gb per rank, in bytes: files past it are deleted, LRU first
  int queue_blocks = 64;         // blocks waiting for the writer before offload() drops
  bool events = false;           // keep added/removed events for take_events() (rank 0 only)
};

struct KvDiskEvent {
  enum Kind { added, removed } kind = added;
  BlockKey key;  // removed: only key.hash is set
};

// Counters since open (plain values: a copy under the store's lock).
struct KvDiskStats {
  uint64_t blocks = 0, bytes = 0;                   // files held now, their bytes
  uint64_t offloaded_blocks = 0, offloaded_bytes = 0;  // written
  uint64_t restored_blocks = 0, restored_bytes = 0;    // read back into memory
  uint64_t restore_misses = 0;                     // restores of a block this rank does not hold
  uint64_t write_drops = 0;                        // offloads dropped: the queue was full
  uint64_t write_errors = 0, read_errors = 0;      // I/O errors (disk full, read-only, ...)
  uint64_t bad_files = 0;                          // truncated, corrupt or foreign files deleted
  uint64_t evicted_files = 0;                      // deleted to stay within the budget
  uint64_t scanned_files = 0;                      // good files found at open
  bool usable = false;                             // the directory exists and is writable
};

class KvDiskStore {
 public:
  // Makes <opts.dir>/<layout_dir_name(l)>, scans it (good files enter the LRU list in
  // modification-time order; bad ones are counted and deleted) and starts the writer.
  // Never fails: an unusable directory leaves an empty store that drops every offload.
  KvDiskStore(const KvDiskOptions& opts, const KvDiskLayout& l, size_t payload_bytes);
  ~KvDiskStore();  // finishes the queued writes, then stops the writer
  KvDiskStore(const KvDiskStore&) = delete;
  KvDiskStore& operator=(const KvDiskStore&) = delete;

  size_t payload_bytes() const { return payload_bytes_; }
  const std::string& dir() const { return dir_; }

  // Queues the block for writing (payload: payload_bytes() bytes); false if it was
  // dropped (queue full, store unusable) or is already held (then it is touched).
  bool offload(const BlockKey& key, std::vector<uint8_t> payload);
  // Reads block `key` into payload (payload_bytes() bytes), checked; false on any
  // failure (a bad file is deleted). A hit moves the block to the LRU tail.
  bool restore(const BlockKey& key, uint8_t* payload);
  // Deletes the block's file if held (rank 0, after a restore failed on another rank).
  void forget(uint64_t hash);
  bool contains(uint64_t hash) const;
  // Events since the last call (only with opts.events).
  std::vector<KvDiskEvent> take_events();
  KvDiskStats stats() const;
  // Waits until the writer has emptied its queue (tests, shutdown).
  void flush();

 private:
  struct Entry {
    BlockKey key;
    uint64_t bytes = 0;
    std::list<uint64_t>::iterator lru;
  };
  struct Job {
    BlockKey key;
    std::vector<uint8_t> payload;
  };
  void scan();
  void writer_loop();
  void write_one(Job& j);
  std::string path_of(uint64_t hash) const;
  // Under mu_: adds an entry (touching an existing one), then deletes LRU files past the budget.
  void add_locked(const BlockKey& key, uint64_t bytes);
  void remove_locked(uint64_t hash, bool delete_file);
  void event_locked(KvDiskEvent::Kind k, const BlockKey& key);

  KvDiskOptions opts_;
  KvDiskLayout layout_;
  size_t payload_bytes_ = 0;
  std::string dir_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<Job> queue_;
  bool busy_ = false, stop_ = false;
  std::unordered_map<uint64_t, Entry> entries_;
  std::list<uint64_t> lru_;  // least recently used first
  std::vector<KvDiskEvent> events_;
  KvDiskStats st_;
  std::thread writer_;
};

}  // namespace shardlm
