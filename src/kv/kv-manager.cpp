// Rank 0's KV manager: plans over the BlockPool and their apply steps. Owned by the
// engine thread (see kv-manager.h).
#include "shardlm/kv/kv-manager.h"

#include <algorithm>
#include <cassert>
#include <unordered_set>

namespace shardlm {

KvManager::KvManager(const KvManagerConfig& cfg) : cfg_(cfg), pool_(cfg.n_blocks) {
  assert(cfg.block_size > 0);
}

MatchPlan KvManager::match(const std::vector<int32_t>& tokens) const {
  MatchPlan m;
  m.chain_hash = cfg_.cache_seed;
  if (!cfg_.prefix_cache || tokens.empty()) return m;
  const int bs = cfg_.block_size;
  const int max_blocks = (static_cast<int>(tokens.size()) - 1) / bs;  // leave at least one token to compute
  const std::vector<BlockKey> keys = block_keys(tokens, bs, max_blocks, cfg_.cache_seed);
  m.blocks = pool_.match_prefix(keys, max_blocks);
  m.n_tokens = static_cast<int>(m.blocks.size()) * bs;
  if (!m.blocks.empty()) m.chain_hash = keys[m.blocks.size() - 1].hash;
  return m;
}

std::optional<AllocPlan> KvManager::allocate(uint64_t seq, int n_tokens, const MatchPlan& m) const {
  AllocPlan p;
  p.seq = seq;
  p.epoch = epoch_;
  auto it = seqs_.find(seq);
  int have = 0;
  if (it == seqs_.end()) {
    p.opens = true;
    p.match = m;
    have = static_cast<int>(m.blocks.size());
  } else {
    assert(m.blocks.empty() && "a sequence shares cached blocks only when its table opens");
    have = static_cast<int>(it->second.blocks.size());
  }
  const int need = std::max(0, blocks_for(n_tokens, cfg_.block_size) - have);
  const int n_fresh = std::min(need, pool_.n_free_list());
  p.fresh = pool_.peek_free(n_fresh);
  // Evict the least recently released parked blocks, skipping those the match shares.
  const std::unordered_set<int32_t> shared(m.blocks.begin(), m.blocks.end());
  for (auto lit = pool_.lru().begin(); p.n_new() < need && lit != pool_.lru().end(); ++lit)
    if (shared.count(*lit) == 0) p.evicted.push_back({*lit, pool_.key(*lit)});
  if (p.n_new() < need) return std::nullopt;
  return p;
}

std::optional<RestorePlan> KvManager::plan_restore(const std::vector<int32_t>& tokens, const MatchPlan& m) const {
  if (!cfg_.disk_tier || !cfg_.prefix_cache || tokens.empty() || disk_.size() == 0) return std::nullopt;
  const int bs = cfg_.block_size;
  const int max_blocks = (static_cast<int>(tokens.size()) - 1) / bs;  // leave a token to compute
  const int first = static_cast<int>(m.blocks.size());
  if (max_blocks - first < cfg_.restore_min_blocks) return std::nullopt;
  RestorePlan p;
  p.epoch = epoch_;
  uint64_t parent = m.chain_hash;
  const std::unordered_set<int32_t> shared(m.blocks.begin(), m.blocks.end());
  const int limit = std::min(max_blocks - first, pool_.n_available() - static_cast<int>(shared.size()));
  for (int b = first; static_cast<int>(p.keys.size()) < limit; ++b) {
    BlockKey k = block_key(parent, tokens.data() + static_cast<size_t>(b) * bs, bs);
    if (!disk_.has(k) || !pool_.match_prefix({k}, 1).empty()) break;  // not on disk, or already in memory
    parent = k.hash;
    p.keys.push_back(std::move(k));
  }
  if (static_cast<int>(p.keys.size()) < cfg_.restore_min_blocks) return std::nullopt;
  const int need = static_cast<int>(p.keys.size());
  const int n_fresh = std::min(need, pool_.n_free_list());
  p.fresh = pool_.peek_free(n_fresh);
  for (auto lit = pool_.lru().begin(); n_fresh + static_cast<int>(p.evicted.size()) < need && lit != pool_.lru().end(); ++lit)
    if (shared.count(*lit) == 0) p.evicted.push_back({*lit, pool_.key(*lit)});
  if (n_fresh + static_cast<int>(p.evicted.size()) < need) return std::nullopt;
  return p;
}

void KvManager::apply(const RestorePlan& p) {
  assert(p.epoch == epoch_ && "a plan applies to the state it was made from");
  ++epoch_;
  const std::vector<int32_t> fresh = pool_.take_free(static_cast<int>(p.fresh.size()));
  assert(fresh == p.fresh);
  for (const auto& e : p.evicted) {
    assert(pool_.registered(e.block) && pool_.key(e.block) == e.key);
    pool_.evict(e.block);
  }
}

std::vector<uint64_t> KvManager::finish_restore(const RestorePlan& p, const std::vector<bool>& ok) {
  ++epoch_;
  std::vector<uint64_t> failed;
  for (size_t i = 0; i < p.keys.size(); ++i) {
    const int32_t b = p.block(i);
    if (i < ok.size() && ok[i]) {
      (void)pool_.register_block(b, p.keys[i]);  // false: the same key got cached meanwhile
    } else {
      failed.push_back(p.keys[i].hash);
      disk_.erase(p.keys[i].hash);
    }
    pool_.release(b);
  }
  return failed;
}

CommitPlan KvManager::commit(uint64_t seq, const std::vector<int32_t>& tokens, int n_computed) const {
  CommitPlan p;
  p.seq = seq;
  p.epoch = epoch_;
  if (!cfg_.prefix_cache) return p;
  const SeqBlocks& t = table(seq);
  assert(static_cast<int>(tokens.size()) >= n_computed);
  const int bs = cfg_.block_size;
  uint64_t parent = t.chain_hash;
  for (int b = t.n_registered; (b + 1) * bs <= n_computed; ++b) {
    assert(b < static_cast<int>(t.blocks.size()));
    BlockKey k = block_key(parent, tokens.data() + static_cast<size_t>(b) * bs, bs);
    parent = k.hash;
    p.regs.push_back({t.blocks[b], std::move(k)});
  }
  return p;
}

FreePlan KvManager::free(uint64_t seq) const {
  FreePlan p;
  p.seq = seq;
  p.epoch = epoch_;
  p.release = table(seq).blocks;
  return p;
}

void KvManager::apply(const AllocPlan& p) {
  assert(p.epoch == epoch_ && "a plan applies to the state it was made from");
  ++epoch_;
  SeqBlocks* t = nullptr;
  if (p.opens) {
    assert(!has(p.seq));
    t = &seqs_[p.seq];
    pool_.acquire(p.match.blocks);  // revives parked ones
    t->blocks = p.match.blocks;
    t->n_registered = static_cast<int>(p.match.blocks.size());
    t->chain_hash = p.match.blocks.empty() ? cfg_.cache_seed : p.match.chain_hash;
  } else {
    t = &table_mut(p.seq);
  }
  const std::vector<int32_t> fresh = pool_.take_free(static_cast<int>(p.fresh.size()));
  assert(fresh == p.fresh);
  t->blocks.insert(t->blocks.end(), fresh.begin(), fresh.end());
  for (const auto& e : p.evicted) {
    assert(pool_.registered(e.block) && pool_.key(e.block) == e.key);
    pool_.evict(e.block);
    t->blocks.push_back(e.block);
  }
}

void KvManager::apply(const CommitPlan& p) {
  assert(p.epoch == epoch_ && "a plan applies to the state it was made from");
  ++epoch_;
  if (p.regs.empty()) return;
  SeqBlocks& t = table_mut(p.seq);
  for (const auto& r : p.regs) {
    assert(t.blocks[t.n_registered] == r.block);
    // false when another block already holds this key (two sequences computed the same
    // prefix at once): this one stays uncached, and the chain still advances.
    pool_.register_block(r.block, r.key);
    t.chain_hash = r.key.hash;
    ++t.n_registered;
  }
}

void KvManager::apply(const FreePlan& p) {
  assert(p.epoch == epoch_ && "a plan applies to the state it was made from");
  ++epoch_;
  auto it = seqs_.find(p.seq);
  assert(it != seqs_.end() && it->second.blocks == p.release);
  pool_.release(p.release);
  seqs_.erase(it);
}

void KvManager::touch(const MatchPlan& m) {
  ++epoch_;
  pool_.touch(m.blocks);
}

const SeqBlocks& KvManager::table(uint64_t seq) const {
  auto it = seqs_.find(seq);
  assert(it != seqs_.end() && "no table for this wire id");
  return it->second;
}

SeqBlocks& KvManager::table_mut(uint64_t seq) {
  auto it = seqs_.find(seq);
  assert(it != seqs_.end() && "no table for this wire id");
  return it->second;
}

std::vector<int32_t> KvManager::unsent(uint64_t seq) const {
  const SeqBlocks& t = table(seq);
  return std::vector<int32_t>(t.blocks.begin() + t.n_sent, t.blocks.end());
}

void KvManager::mark_sent(uint64_t seq) {
  SeqBlocks& t = table_mut(seq);
  t.n_sent = static_cast<int>(t.blocks.size());
}

Status KvManager::pin(uint64_t key, const std::vector<int32_t>& blocks) {
  if (pins_.count(key)) return Status::errorf("kv pin {}: already pinned", key);
  for (auto id : blocks) {
    if (id < 0 || id >= capacity()) return Status::errorf("kv pin {}: no block {}", key, id);
    if (pool_.refs(id) == 0 && !pool_.registered(id))
      return Status::errorf("kv pin {}: block {} is free (holds no KV)", key, id);
  }
  ++epoch_;
  pool_.acquire(blocks);
  pins_.emplace(key, blocks);
  return Status::ok();
}

bool KvManager::unpin(uint64_t key) {
  auto it = pins_.find(key);
  if (it == pins_.end()) return false;
  ++epoch_;
  pool_.release(it->second);
  pins_.erase(it);
  return true;
}

}  // namespace shardlm
