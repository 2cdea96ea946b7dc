// The disk tier's block files and store (kv/kv-disk-file.h, kv/kv-disk-store.h), and the
// KV manager's restore plans (kv/kv-manager.h).
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "shardlm/kv/block-hash.h"
#include "shardlm/kv/kv-disk-file.h"
#include "shardlm/kv/kv-disk-store.h"
#include "shardlm/kv/kv-manager.h"

namespace shardlm {
namespace {

namespace fs = std::filesystem;

constexpr int kBs = 4;
constexpr size_t kPayload = 1000;

struct TempDir {
  fs::path p;
  TempDir() {
    char tmpl[] = "/tmp/shardlm-kvdisk-XXXXXX";
    p = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(p, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(p, ec);
  }
};

KvDiskLayout layout(uint64_t fp = 0xabc, uint32_t rank = 0) {
  KvDiskLayout l;
  l.fingerprint = fp;
  l.tp = 2;
  l.rank = rank;
  l.dtype = 1;
  l.block_size = kBs;
  l.n_layer = 3;
  l.n_kv_local = 2;
  l.head_dim = 8;
  return l;
}

std::vector<uint8_t> payload(uint32_t seed) {
  std::vector<uint8_t> p(kPayload);
  std::mt19937 g(seed);
  for (auto& b : p) b = static_cast<uint8_t>(g());
  return p;
}

BlockKey key(int first, uint64_t parent = 0) {
  std::vector<int32_t> t = {first, first + 1, first + 2, first + 3};
  return block_key(parent, t.data(), kBs);
}

KvDiskOptions opts(const fs::path& dir, uint64_t budget = 1 << 20) {
  KvDiskOptions o;
  o.dir = dir.string();
  o.budget_bytes = budget;
  o.events = true;
  return o;
}

TEST(KvDiskFile, RoundTripAndEveryDefectIsNamed) {
  TempDir d;
  const KvDiskLayout l = layout();
  const BlockKey k = key(10);
  const auto p = payload(1);
  const std::string path = (d.p / block_file_name(k.hash)).string();
  ASSERT_TRUE(write_block_file(path, encode_block_file(l, k, p.data(), p.size())));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  std::vector<uint8_t> got(kPayload);
  std::string why;
  ASSERT_EQ(read_block_file(path, l, k, got.data(), got.size(), why), BlockFileError::none) << why;
  EXPECT_EQ(got, p);

  // Another key (a hash collision would look like this) is refused.
  BlockKey other = k;
  other.tokens[0] += 1;
  EXPECT_EQ(read_block_file(path, l, other, got.data(), got.size(), why), BlockFileError::foreign);
  // Another model fingerprint, rank, dtype or block size: foreign.
  for (auto bad : {layout(0xdef), layout(0xabc, 1)})
    EXPECT_EQ(read_block_file(path, bad, k, got.data(), got.size(), why), BlockFileError::foreign);

  const auto bytes = encode_block_file(l, k, p.data(), p.size());
  // Truncation at every length is detected, never read past.
  for (size_t cut : {size_t{0}, size_t{7}, size_t{40}, bytes.size() - kPayload, bytes.size() - 1}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(bytes.data()), cut);
    const BlockFileError e = read_block_file(path, l, k, got.data(), got.size(), why);
    EXPECT_TRUE(e == BlockFileError::truncated) << "cut " << cut << ": " << block_file_error_name(e) << " " << why;
  }
  // A single bit flip anywhere (header or payload) is detected.
  for (size_t at : {size_t{3}, size_t{20}, size_t{60}, bytes.size() - kPayload - 2, bytes.size() - kPayload + 5,
                    bytes.size() - 1}) {
    auto flipped = bytes;
    flipped[at] ^= 0x10;
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(flipped.data()), static_cast<std::streamsize>(flipped.size()));
    const BlockFileError e = read_block_file(path, l, k, got.data(), got.size(), why);
    EXPECT_NE(e, BlockFileError::none) << "flip at " << at;
  }
  EXPECT_EQ(read_block_file((d.p / "missing.kvb").string(), l, k, got.data(), got.size(), why),
            BlockFileError::not_found);
  // A file of an older build (version 1: position-major blocks) is foreign, never read.
  {
    auto old = bytes;
    uint32_t version = 0;
    std::memcpy(&version, old.data() + 8, 4);
    ASSERT_EQ(version, 2u) << "the version field follows the magic";
    version = 1;
    std::memcpy(old.data() + 8, &version, 4);
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(old.data()), static_cast<std::streamsize>(old.size()));
    EXPECT_EQ(read_block_file(path, l, k, got.data(), got.size(), why), BlockFileError::foreign);
    EXPECT_NE(why.find("version 1"), std::string::npos) << why;
  }
}

TEST(KvDiskStore, OffloadRestoreAndRebuildByScan) {
  TempDir d;
  const auto p1 = payload(1), p2 = payload(2);
  const BlockKey k1 = key(0), k2 = key(4, k1.hash);
  {
    KvDiskStore s(opts(d.p), layout(), kPayload);
    ASSERT_TRUE(s.stats().usable);
    EXPECT_TRUE(s.offload(k1, p1));
    EXPECT_TRUE(s.offload(k2, p2));
    s.flush();
    EXPECT_EQ(s.stats().blocks, 2u);
    EXPECT_EQ(s.stats().offloaded_blocks, 2u);
    const auto ev = s.take_events();
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0].kind, KvDiskEvent::added);
    EXPECT_EQ(ev[0].key, k1);
    std::vector<uint8_t> got(kPayload);
    ASSERT_TRUE(s.restore(k2, got.data()));
    EXPECT_EQ(got, p2);
    EXPECT_FALSE(s.restore(key(100), got.data()));  // never written
    EXPECT_EQ(s.stats().restore_misses, 1u);
  }
  // A restart with the same layout finds both, keys and all.
  {
    KvDiskStore s(opts(d.p), layout(), kPayload);
    EXPECT_EQ(s.stats().scanned_files, 2u);
    const auto ev = s.take_events();
    ASSERT_EQ(ev.size(), 2u);
    std::vector<uint8_t> got(kPayload);
    ASSERT_TRUE(s.restore(k1, got.data()));
    EXPECT_EQ(got, p1);
  }
  // Another model never sees them (its own directory), and the first one's files stay.
  {
    KvDiskStore s(opts(d.p), layout(0x999), kPayload);
    EXPECT_EQ(s.stats().blocks, 0u);
    std::vector<uint8_t> got(kPayload);
    EXPECT_FALSE(s.restore(k1, got.data()));
  }
  EXPECT_EQ(KvDiskStore(opts(d.p), layout(), kPayload).stats().blocks, 2u);
}

TEST(KvDiskStore, BadFilesAreCountedAndDeletedAtScanAndRestore) {
  TempDir d;
  const BlockKey k1 = key(0), k2 = key(4, k1.hash), k3 = key(8, k2.hash);
  std::string dir;
  {
    KvDiskStore s(opts(d.p), layout(), kPayload);
    dir = s.dir();
    for (const auto& k : {k1, k2, k3}) s.offload(k, payload(static_cast<uint32_t>(k.hash)));
    s.flush();
  }
  const std::string f1 = dir + "/" + block_file_name(k1.hash), f2 = dir + "/" + block_file_name(k2.hash),
                    f3 = dir + "/" + block_file_name(k3.hash);
  fs::resize_file(f1, fs::file_size(f1) - 10);            // truncated: found by the scan
  std::ofstream(dir + "/junk.kvb") << "not a block";      // foreign: found by the scan
  std::ofstream(dir + "/" + block_file_name(k1.hash) + ".tmp") << "half";  // an interrupted write
  {  // a payload bit flip: found at restore
    std::fstream f(f2, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(f2) - 3));
    f.put('\x5a');
  }
  KvDiskStore s(opts(d.p), layout(), kPayload);
  EXPECT_EQ(s.stats().bad_files, 3u);
  EXPECT_EQ(s.stats().blocks, 2u);
  EXPECT_FALSE(fs::exists(f1));
  EXPECT_FALSE(fs::exists(dir + "/junk.kvb"));
  std::vector<uint8_t> got(kPayload);
  EXPECT_FALSE(s.restore(k2, got.data()));
  EXPECT_EQ(s.stats().bad_files, 4u);
  EXPECT_FALSE(fs::exists(f2));
  EXPECT_FALSE(s.contains(k2.hash));
  ASSERT_TRUE(s.restore(k3, got.data()));
  EXPECT_EQ(got, payload(static_cast<uint32_t>(k3.hash)));
}

TEST(KvDiskStore, LruWithinTheByteBudget) {
  TempDir d;
  const size_t file = encode_block_file(layout(), key(0), payload(0).data(), kPayload).size();
  KvDiskStore s(opts(d.p, 3 * file), layout(), kPayload);
  std::vector<BlockKey> keys;
  for (int i = 0; i < 3; ++i) keys.push_back(key(4 * i));
  for (const auto& k : keys) s.offload(k, payload(1));
  s.flush();
  std::vector<uint8_t> got(kPayload);
  ASSERT_TRUE(s.restore(keys[0], got.data()));  // keys[0] is now the most recently used
  s.offload(key(100), payload(1));
  s.flush();
  const KvDiskStats st = s.stats();
  EXPECT_EQ(st.blocks, 3u);
  EXPECT_LE(st.bytes, 3 * file);
  EXPECT_EQ(st.evicted_files, 1u);
  EXPECT_TRUE(s.contains(keys[0].hash));
  EXPECT_FALSE(s.contains(keys[1].hash));  // the least recently used went
  EXPECT_FALSE(fs::exists(s.dir() + "/" + block_file_name(keys[1].hash)));
  // A budget smaller than one file keeps nothing (and never fails).
  TempDir d2;
  KvDiskStore tiny(opts(d2.p, file - 1), layout(), kPayload);
  tiny.offload(key(0), payload(1));
  tiny.flush();
  EXPECT_EQ(tiny.stats().blocks, 0u);
  EXPECT_EQ(tiny.stats().write_drops, 1u);
}

TEST(KvDiskStore, AFullQueueDropsAndAnUnusableDirectoryServesNothing) {
  TempDir d;
  KvDiskOptions o = opts(d.p);
  o.queue_blocks = 1;
  {
    KvDiskStore s(o, layout(), kPayload);
    int dropped = 0;
    for (int i = 0; i < 200; ++i) dropped += s.offload(key(4 * i), payload(1)) ? 0 : 1;
    s.flush();
    EXPECT_EQ(s.stats().write_drops, static_cast<uint64_t>(dropped));
    EXPECT_EQ(s.stats().blocks + s.stats().write_drops, 200u);
  }
  // A read-only directory (as root, permissions do not bind: use a file as the root).
  const fs::path not_dir = d.p / "a-file";
  std::ofstream(not_dir) << "x";
  KvDiskStore s(opts(not_dir), layout(), kPayload);
  EXPECT_FALSE(s.stats().usable);
  EXPECT_FALSE(s.offload(key(0), payload(1)));
  std::vector<uint8_t> got(kPayload);
  EXPECT_FALSE(s.restore(key(0), got.data()));
}

// --- the KV manager's restore plans ---

KvManagerConfig disk_cfg(int n_blocks, int min_blocks = 2) {
  KvManagerConfig c;
  c.n_blocks = n_blocks;
  c.block_size = kBs;
  c.prefix_cache = true;
  c.disk_tier = true;
  c.restore_min_blocks = min_blocks;
  return c;
}

std::vector<int32_t> seq_tokens(int n) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = 100 + i;
  return t;
}

TEST(KvManagerDisk, RestorePlansContinueTheMatchAndRegisterWhatEveryRankRestored) {
  KvManager kv(disk_cfg(8));
  const auto toks = seq_tokens(4 * kBs + 1);  // 4 full blocks and one token
  const auto keys = block_keys(toks, kBs, 4);
  std::vector<KvDiskEvent> ev;
  for (const auto& k : keys) ev.push_back({KvDiskEvent::added, k});
  kv.disk().apply(ev);
  const MatchPlan m = kv.match(toks);
  EXPECT_TRUE(m.blocks.empty());
  auto r = kv.plan_restore(toks, m);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->keys.size(), 4u);
  EXPECT_EQ(r->keys, keys);
  kv.apply(*r);
  EXPECT_EQ(kv.n_used(), 4);
  // Block 2 failed on some rank: 0 and 1 are cached, 2 leaves the index, 3 is cached but unreachable.
  const auto failed = kv.finish_restore(*r, {true, true, false, true});
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0], keys[2].hash);
  EXPECT_FALSE(kv.disk().has(keys[2]));
  EXPECT_EQ(kv.n_used(), 0);
  const MatchPlan m2 = kv.match(toks);
  ASSERT_EQ(m2.blocks.size(), 2u);
  EXPECT_EQ(m2.blocks[0], r->block(0));
  EXPECT_EQ(m2.blocks[1], r->block(1));
  // Block 2 is on no tier now: nothing more to restore (the rest is recomputed).
  EXPECT_FALSE(kv.plan_restore(toks, m2));
}

TEST(KvManagerDisk, ShortRunsAndNoRoomAreRecomputed) {
  KvManager kv(disk_cfg(8, 3));
  const auto toks = seq_tokens(2 * kBs + 1);
  const auto keys = block_keys(toks, kBs, 2);
  kv.disk().apply({{KvDiskEvent::added, keys[0]}, {KvDiskEvent::added, keys[1]}});
  EXPECT_FALSE(kv.plan_restore(toks, kv.match(toks)));  // 2 blocks < 3
  KvManager small(disk_cfg(1, 1));
  small.disk().apply({{KvDiskEvent::added, keys[0]}, {KvDiskEvent::added, keys[1]}});
  auto r = small.plan_restore(toks, small.match(toks));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->keys.size(), 1u);  // as many as the pool can hold
  KvManagerConfig off = disk_cfg(8, 1);
  off.disk_tier = false;
  KvManager cpu(off);
  cpu.disk().apply({{KvDiskEvent::added, keys[0]}});
  EXPECT_FALSE(cpu.plan_restore(toks, cpu.match(toks)));
}

TEST(KvManagerDisk, RestoreEvictsParkedBlocksButNotTheMatch) {
  KvManager kv(disk_cfg(3, 1));
  const auto toks = seq_tokens(3 * kBs + 1);
  const auto keys = block_keys(toks, kBs, 3);
  // Sequence 1 computes blocks 0 and 1 and parks them; a stranger parks one more block.
  auto a = kv.allocate(1, 2 * kBs);
  ASSERT_TRUE(a);
  kv.apply(*a);
  kv.apply(kv.commit(1, toks, 2 * kBs));
  kv.apply(kv.free(1));
  const auto other = seq_tokens(kBs);
  std::vector<int32_t> o2(other.begin(), other.end());
  for (auto& t : o2) t += 1000;
  auto b = kv.allocate(2, kBs);
  ASSERT_TRUE(b);
  kv.apply(*b);
  kv.apply(kv.commit(2, o2, kBs));
  kv.apply(kv.free(2));
  // Memory holds blocks 0 and 1 of toks; block 2 is on disk.
  kv.disk().apply({{KvDiskEvent::added, keys[2]}});
  const MatchPlan m = kv.match(toks);
  ASSERT_EQ(m.blocks.size(), 2u);
  auto r = kv.plan_restore(toks, m);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->keys.size(), 1u);
  EXPECT_EQ(r->keys[0], keys[2]);
  ASSERT_EQ(r->evicted.size(), 1u);  // the stranger's block, never the match's
  EXPECT_EQ(r->evicted[0].key.tokens, std::vector<int32_t>(o2.begin(), o2.end()));
}

}  // namespace
}  // namespace shardlm
