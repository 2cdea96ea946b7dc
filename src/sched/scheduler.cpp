#include "shardlm/sched/scheduler.h"

#include <algorithm>
#include <cassert>
#include <unordered_set>

namespace shardlm {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::none: return "";
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::abort: return "abort";
    case FinishReason::timeout: return "timeout";
    case FinishReason::error: return "error";
  }
  return "";
}

Scheduler::Scheduler(const SchedulerConfig& cfg) : cfg_(cfg), pool_(cfg.n_blocks) {}

bool Scheduler::add(std::shared_ptr<Sequence> s) {
  if (static_cast<int>(waiting_.size()) >= cfg_.max_queue) return false;
  s->state = SeqState::waiting;
  waiting_.push_back(std::move(s));
  return true;
}

std::vector<std::shared_ptr<Sequence>> Scheduler::live() const {
  std::vector<std::shared_ptr<Sequence>> out(running_.begin(), running_.end());
  out.insert(out.end(), waiting_.begin(), waiting_.end());
  return out;
}

bool Scheduler::grow(Sequence& s, int n_tokens) {
  const int need = blocks_for(n_tokens, cfg_.block_size) - static_cast<int>(s.blocks.size());
  if (need <= 0) return true;
  auto b = pool_.allocate(need);
  if (!b) return false;
  s.blocks.insert(s.blocks.end(), b->begin(), b->end());
  return true;
}

void Scheduler::release_blocks(Sequence& s) {
  pool_.release(s.blocks);
  s.blocks.clear();
  if (s.on_ranks) pending_finished_.push_back(s.wire_id);
  s.on_ranks = false;
  s.n_computed = 0;
  s.n_registered = 0;
  s.n_blocks_sent = 0;
  s.chain_hash = 0;
}

void Scheduler::preempt(Sequence& s) {
  release_blocks(s);
  s.state = SeqState::waiting;
  ++s.n_preempted;
  ++stats_.preemptions;
  auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& p) { return p.get() == &s; });
  assert(it != running_.end());
  waiting_.push_front(*it);
  running_.erase(it);
}

void Scheduler::finish(Sequence& s, FinishReason why) {
  if (s.state == SeqState::finished) return;
  auto same = [&](const auto& p) { return p.get() == &s; };
  if (auto it = std::find_if(running_.begin(), running_.end(), same); it != running_.end()) running_.erase(it);
  if (auto it = std::find_if(waiting_.begin(), waiting_.end(), same); it != waiting_.end()) waiting_.erase(it);
  release_blocks(s);
  s.state = SeqState::finished;
  s.finish = why;
}

void Scheduler::emit(Sequence& s, int n, StepPlan& p) {
  const bool sample = s.n_computed + n == static_cast<int>(s.tokens.size());
  auto first = s.tokens.begin() + s.n_computed;
  if (!s.on_ranks) {
    NewSeq ns;
    ns.seq_id = s.wire_id;
    ns.start_pos = static_cast<uint32_t>(s.n_computed);
    ns.n_prompt = static_cast<uint32_t>(s.n_prompt);
    ns.tokens.assign(first, first + n);
    ns.block_table = s.blocks;
    if (s.need_history) ns.history.assign(s.tokens.begin(), first);
    ns.n_top = static_cast<uint8_t>(s.n_top);
    ns.sampling = s.sampling;
    p.msg.new_seqs.push_back(std::move(ns));
    s.on_ranks = true;
  } else {
    RunningSeq rs;
    rs.seq_id = s.wire_id;
    rs.tokens.assign(first, first + n);
    rs.new_blocks.assign(s.blocks.begin() + s.n_blocks_sent, s.blocks.end());
    p.msg.running.push_back(std::move(rs));
  }
  s.n_blocks_sent = static_cast<int>(s.blocks.size());
  if (sample) p.msg.rows.push_back({s.wire_id, static_cast<uint32_t>(s.n_computed + n - 1)});  // the last token's logits
  p.seqs.push_back({&s, n, sample});
  p.n_tokens += n;
}

bool Scheduler::admit(Sequence& s, int budget, StepPlan& p) {
  const int bs = cfg_.block_size;
  const int n_known = static_cast<int>(s.tokens.size());
  std::vector<BlockKey> keys;
  std::vector<int32_t> matched;
  if (cfg_.prefix_cache) {
    const int max_blocks = (n_known - 1) / bs;  // leave at least one token to compute
    keys = block_keys(s.tokens, bs, max_blocks, cfg_.cache_seed);
    matched = pool_.match_prefix(keys, max_blocks);
  }
  const int n_start = static_cast<int>(matched.size()) * bs;
  const int n = std::min(n_known - n_start, budget);
  pool_.acquire(matched);
  s.blocks = matched;
  if (!grow(s, n_start + n)) {
    pool_.release(s.blocks);  // back to the LRU list: still cached
    s.blocks.clear();
    return false;
  }
  if (s.n_preempted == 0) {
    s.n_cached = n_start;
    if (cfg_.prefix_cache) {
      stats_.prefix_queries_tokens += static_cast<uint64_t>(s.n_prompt);
      stats_.prefix_hit_tokens += static_cast<uint64_t>(std::min(n_start, s.n_prompt));
    }
  }
  s.wire_id = next_wire_id_++;
  s.n_computed = n_start;
  s.n_registered = static_cast<int>(matched.size());
  s.chain_hash = matched.empty() ? cfg_.cache_seed : keys[matched.size() - 1].hash;
  s.n_blocks_sent = 0;
  s.on_ranks = false;
  s.state = SeqState::running;
  emit(s, n, p);
  return true;
}

StepPlan Scheduler::schedule() {
  StepPlan p;
  p.msg.step_id = step_id_++;
  int budget = cfg_.max_batch_tokens;

  // 1. Running sequences: decoding ones (gap 1) first, then the rest in admission order.
  std::vector<Sequence*> order;
  for (auto& s : running_) order.push_back(s.get());
  std::stable_partition(order.begin(), order.end(), [](const Sequence* s) { return s->gap() == 1; });
  std::vector<Sequence*> scheduled;
  for (Sequence* s : order) {
    if (budget == 0) break;
    if (s->state != SeqState::running || s->gap() <= 0) continue;
    const int n = std::min(s->gap(), budget);
    bool ok = true;
    while (!grow(*s, s->n_computed + n)) {
      // Preempt the newest running sequence not yet in this step; else this one.
      Sequence* victim = nullptr;
      for (auto it = running_.rbegin(); it != running_.rend(); ++it)
        if (it->get() != s && std::find(scheduled.begin(), scheduled.end(), it->get()) == scheduled.end()) {
          victim = it->get();
          break;
        }
      if (!victim) {
        preempt(*s);
        ok = false;
        break;
      }
      preempt(*victim);
    }
    if (!ok) continue;
    emit(*s, n, p);
    scheduled.push_back(s);
    budget -= n;
  }

  // 2. Admit waiting sequences in order.
  while (!waiting_.empty() && budget > 0 && static_cast<int>(running_.size()) < cfg_.max_num_seqs) {
    auto s = waiting_.front();
    if (!admit(*s, budget, p)) break;
    budget -= p.seqs.back().n_tokens;
    waiting_.pop_front();
    running_.push_back(std::move(s));
  }

  // The step message lists new sequences first, then running ones: order seqs the same.
  // (emit() marks a sequence's first appearance on the ranks by its new wire id.)
  std::unordered_set<uint64_t> new_ids;
  for (const auto& ns : p.msg.new_seqs) new_ids.insert(ns.seq_id);
  std::stable_partition(p.seqs.begin(), p.seqs.end(),
                        [&](const ScheduledSeq& x) { return new_ids.count(x.seq->wire_id) > 0; });
  p.msg.finished = std::move(pending_finished_);
  pending_finished_.clear();
  return p;
}

void Scheduler::commit(const StepPlan& p) {
  const int bs = cfg_.block_size;
  for (const auto& x : p.seqs) {
    Sequence& s = *x.seq;
    if (s.state != SeqState::running) continue;
    s.n_computed += x.n_tokens;
    if (!cfg_.prefix_cache) continue;
    while ((s.n_registered + 1) * bs <= s.n_computed) {
      const int b = s.n_registered;
      BlockKey k = block_key(s.chain_hash, s.tokens.data() + static_cast<size_t>(b) * bs, bs);
      pool_.register_block(s.blocks[b], k);
      s.chain_hash = k.hash;
      ++s.n_registered;
    }
  }
}

}  // namespace shardlm
