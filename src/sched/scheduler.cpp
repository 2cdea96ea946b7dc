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

namespace {
KvManagerConfig kv_config(const SchedulerConfig& c) {
  KvManagerConfig k;
  k.n_blocks = c.n_blocks;
  k.block_size = c.block_size;
  k.prefix_cache = c.prefix_cache;
  k.cache_seed = c.cache_seed;
  k.disk_tier = c.disk_tier;
  k.restore_min_blocks = std::max(1, blocks_for(c.kv_disk_min_tokens, c.block_size));
  return k;
}
}  // namespace

Scheduler::Scheduler(const SchedulerConfig& cfg) : cfg_(cfg), kv_(kv_config(cfg)) {}

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

void Scheduler::add_offloads(const std::vector<Eviction>& ev, StepPlan& p) {
  p.evictions.insert(p.evictions.end(), ev.begin(), ev.end());
  if (!cfg_.disk_tier) return;
  for (const auto& e : ev) {
    if (kv_.disk().has(e.key)) continue;  // already on disk
    p.msg.kv_ops.push_back({KvOpKind::offload, e.block, 0, e.key.hash, e.key.parent, e.key.tokens});
    ++stats_.offload_ops;
  }
}

void Scheduler::apply_alloc(const AllocPlan& a, StepPlan& p) {
  kv_.apply(a);
  add_offloads(a.evicted, p);
}

// Disk blocks continuing s's memory match are read back in this step; s admits in a
// later step, when the prefix cache holds them (or recomputes what failed).
bool Scheduler::plan_restore(Sequence& s, const MatchPlan& m, StepPlan& p) {
  if (!cfg_.disk_tier) return false;
  auto r = kv_.plan_restore(s.tokens, m);
  if (!r) {
    if (m.n_tokens + cfg_.block_size < static_cast<int>(s.tokens.size())) ++stats_.disk_misses;
    return false;
  }
  kv_.apply(*r);
  ++stats_.disk_restores;
  kv_.touch(m);  // the memory part of the prefix stays ahead of eviction
  add_offloads(r->evicted, p);
  for (size_t i = 0; i < r->keys.size(); ++i) {
    const BlockKey& k = r->keys[i];
    p.msg.kv_ops.push_back({KvOpKind::restore, 0, r->block(i), k.hash, k.parent, k.tokens});
  }
  p.restores.push_back(std::move(*r));
  return true;
}

std::vector<uint64_t> Scheduler::finish_restores(const StepPlan& p, const std::vector<bool>& ok) {
  std::vector<uint64_t> failed;
  size_t at = 0;
  for (const auto& r : p.restores) {
    std::vector<bool> mine;
    for (size_t i = 0; i < r.keys.size(); ++i, ++at) mine.push_back(at < ok.size() && ok[at]);
    for (uint64_t h : kv_.finish_restore(r, mine)) failed.push_back(h);
  }
  stats_.disk_failed_blocks += failed.size();
  stats_.disk_hit_blocks += at - failed.size();
  return failed;
}

bool Scheduler::grow(Sequence& s, int n_tokens, StepPlan& p) {
  auto a = kv_.allocate(s.wire_id, n_tokens);
  if (!a) return false;
  apply_alloc(*a, p);
  return true;
}

void Scheduler::release_blocks(Sequence& s) {
  if (s.state == SeqState::running) kv_.apply(kv_.free(s.wire_id));  // only running ones hold a table
  if (s.on_ranks) pending_finished_.push_back(s.wire_id);
  s.on_ranks = false;
  s.n_computed = 0;
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
  if (!s.session.empty() && s.state == SeqState::running) pin_session(s);
  release_blocks(s);
  s.state = SeqState::finished;
  s.finish = why;
}

void Scheduler::emit(Sequence& s, int n, std::vector<int32_t> draft, std::vector<TokenProbs> draft_q, StepPlan& p) {
  const bool sample = s.n_computed + n == static_cast<int>(s.tokens.size());
  auto first = s.tokens.begin() + s.n_computed;
  const int n_known = n;
  n += static_cast<int>(draft.size());
  if (!s.on_ranks) {
    NewSeq ns;
    ns.seq_id = s.wire_id;
    ns.start_pos = static_cast<uint32_t>(s.n_computed);
    ns.n_prompt = static_cast<uint32_t>(s.n_prompt);
    ns.tokens.assign(first, first + n_known);
    ns.block_table = kv_.table(s.wire_id).blocks;
    if (s.need_history) ns.history.assign(s.tokens.begin(), first);
    ns.n_top = static_cast<uint8_t>(s.n_top);
    ns.logprobs = s.logprobs;
    ns.sampling = s.sampling;
    p.msg.new_seqs.push_back(std::move(ns));
    s.on_ranks = true;
  } else {
    RunningSeq rs;
    rs.seq_id = s.wire_id;
    rs.start_pos = static_cast<uint32_t>(s.n_computed);
    rs.tokens.assign(first, first + n_known);
    rs.tokens.insert(rs.tokens.end(), draft.begin(), draft.end());
    rs.new_blocks = kv_.unsent(s.wire_id);
    p.msg.running.push_back(std::move(rs));
  }
  kv_.mark_sent(s.wire_id);
  // The last known token's logits, then one row per draft token (verification).
  // A sampled draft token's row names the tokens of its proposal distribution as probes.
  if (sample)
    for (int i = n_known - 1; i < n; ++i) {
      LogitRow row{s.wire_id, static_cast<uint32_t>(s.n_computed + i), {}};
      const auto j = static_cast<size_t>(i - (n_known - 1));
      if (j < draft_q.size())
        for (const auto& e : draft_q[j]) row.probe.push_back(e.first);
      p.msg.rows.push_back(std::move(row));
    }
  p.seqs.push_back({&s, n, sample, std::move(draft), std::move(draft_q)});
  p.n_tokens += n;
}

bool Scheduler::admit(Sequence& s, int budget, StepPlan& p) {
  const int n_known = static_cast<int>(s.tokens.size());
  MatchPlan m = kv_.match(s.tokens);  // leaves at least one token to compute
  if (plan_restore(s, m, p)) return false;  // admits after the restore step
  const int n_start = m.n_tokens;
  const int n = std::min(n_known - n_start, budget);
  const uint64_t wire_id = next_wire_id_;  // taken only if admitted
  auto a = kv_.allocate(wire_id, n_start + n, m);
  while (!a && demote_session()) {  // pinned sessions give way before new work waits
    m = kv_.match(s.tokens);
    if (m.n_tokens != n_start) break;  // (never: unpinning keeps blocks cached) plan again next step
    a = kv_.allocate(wire_id, n_start + n, m);
  }
  if (!a) {
    // The match's parked blocks go to the LRU tail, as when admission used to take and
    // give back their references.
    kv_.touch(m);
    return false;
  }
  apply_alloc(*a, p);
  if (s.n_preempted == 0) {
    s.n_cached = n_start;
    note_session_hit(s, n_start);
    if (cfg_.prefix_cache) {
      stats_.prefix_queries_tokens += static_cast<uint64_t>(s.n_prompt);
      stats_.prefix_hit_tokens += static_cast<uint64_t>(std::min(n_start, s.n_prompt));
    }
  }
  s.wire_id = next_wire_id_++;
  s.n_computed = n_start;
  s.on_ranks = false;
  s.state = SeqState::running;
  s.draft.clear();
  s.draft_q.clear();
  emit(s, n, {}, {}, p);
  return true;
}

StepPlan Scheduler::schedule() {
  StepPlan p;
  p.msg.step_id = step_id_++;
  int budget = cfg_.max_batch_tokens;
  expire_sessions();

  // 1. Running sequences: decoding ones (gap 1) first, then the rest in admission order.
  std::vector<Sequence*> order;
  for (auto& s : running_) order.push_back(s.get());
  std::stable_partition(order.begin(), order.end(), [](const Sequence* s) { return s->gap() == 1; });
  std::vector<Sequence*> scheduled;
  for (Sequence* s : order) {
    if (budget == 0) break;
    if (s->state != SeqState::running || s->gap() <= 0) continue;
    const int n = std::min(s->gap(), budget);
    // Draft tokens ride along with a decoding sequence, as far as the budget allows.
    std::vector<int32_t> draft;
    std::vector<TokenProbs> draft_q;
    if (s->gap() == 1 && s->on_ranks && !s->draft.empty()) {
      const auto m = static_cast<size_t>(std::min<int>(static_cast<int>(s->draft.size()), budget - n));
      draft.assign(s->draft.begin(), s->draft.begin() + static_cast<std::ptrdiff_t>(m));
      if (!s->draft_q.empty()) draft_q.assign(s->draft_q.begin(), s->draft_q.begin() + static_cast<std::ptrdiff_t>(std::min(m, s->draft_q.size())));
    }
    s->draft.clear();
    s->draft_q.clear();
    if (!draft.empty() && !grow(*s, s->n_computed + n + static_cast<int>(draft.size()), p)) {
      draft.clear();
      draft_q.clear();
    }
    bool ok = true;
    while (!grow(*s, s->n_computed + n, p)) {
      if (demote_session()) continue;
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
    budget -= n + static_cast<int>(draft.size());
    emit(*s, n, std::move(draft), std::move(draft_q), p);
    scheduled.push_back(s);
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
  // Offloads first: a block evicted and refilled by a restore in this step is saved first.
  std::stable_partition(p.msg.kv_ops.begin(), p.msg.kv_ops.end(),
                        [](const KvOp& op) { return op.kind == KvOpKind::offload; });
  p.msg.finished = std::move(pending_finished_);
  pending_finished_.clear();
  return p;
}

void Scheduler::commit(const StepPlan& p) {
  for (const auto& x : p.seqs) {
    Sequence& s = *x.seq;
    if (s.state != SeqState::running) continue;
    s.n_computed += x.n_tokens - static_cast<int>(x.draft.size());  // draft tokens: accept_drafts()
    kv_.apply(kv_.commit(s.wire_id, s.tokens, s.n_computed));
  }
}

void Scheduler::accept_drafts(const StepPlan& p) {
  for (const auto& x : p.seqs) {
    Sequence& s = *x.seq;
    if (s.state != SeqState::running || x.draft.empty()) continue;
    // KV at a draft position is right when every token up to it is the sequence's own.
    int accepted = 0;
    const size_t at = static_cast<size_t>(s.n_computed);
    while (accepted < static_cast<int>(x.draft.size()) && at + accepted < s.tokens.size() &&
           s.tokens[at + accepted] == x.draft[accepted])
      ++accepted;
    if (accepted == 0) continue;
    s.n_computed += accepted;
    kv_.apply(kv_.commit(s.wire_id, s.tokens, s.n_computed));
  }
}

}  // namespace shardlm
