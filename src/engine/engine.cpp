#include "shardlm/engine/engine.h"

#include <algorithm>
#include <filesystem>
#include <thread>

#include "shardlm/core/log.h"
#include "shardlm/core/memory.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/cluster/exit-audit.h"
#include "shardlm/cluster/rank-model.h"
#include "shardlm/engine/model-host.h"
#include "shardlm/spec/draft-model.h"
#include "shardlm/engine/request-state.h"
#include "shardlm/metrics/shardlm-metrics.h"
#include "shardlm/model/model-source.h"

namespace shardlm {

namespace {
using Clock = std::chrono::steady_clock;
double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

const char* model_state_name(ModelState s) {
  switch (s) {
    case ModelState::unloaded: return "unloaded";
    case ModelState::loading: return "loading";
    case ModelState::ready: return "ready";
    case ModelState::unloading: return "unloading";
  }
  return "unknown";
}

Engine::Engine(EngineOptions opts, ShardlmMetrics* metrics)
    : opts_(std::move(opts)), metrics_(metrics), host_(std::make_unique<ModelHost>(opts_)),
      grammar_(std::make_unique<GrammarHost>()) {
  snap_.started_unix = unix_now();
  snap_.model_path = opts_.rt.model_path;
  snap_.model_name = std::filesystem::path(opts_.rt.model_path).filename().string();
  snap_.loads_on_demand = reload_on_demand() && !opts_.rt.model_path.empty();
}
Engine::~Engine() = default;

// ---- any thread ----

void Engine::post(Command c) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    inbox_.push_back(std::move(c));
  }
  cv_.notify_all();
}

uint64_t Engine::submit(EngineRequest r) {
  Command c;
  c.kind = Command::submit;
  c.id = next_id_++;
  c.req = std::make_shared<LiveRequest>();
  c.req->id = c.id;
  c.req->arrived = Clock::now();
  c.req->in = std::move(r);
  const uint64_t id = c.id;
  post(std::move(c));
  return id;
}

void Engine::cancel(uint64_t id) {
  Command c;
  c.kind = Command::cancel;
  c.id = id;
  post(std::move(c));
}

void Engine::load(const std::string& path, std::function<void(LoadReply)> done) {
  Command c;
  c.kind = Command::load;
  c.path = path;
  c.load_done = std::move(done);
  post(std::move(c));
}

void Engine::unload(std::function<void(bool, std::string)> done) {
  Command c;
  c.kind = Command::unload;
  c.done = std::move(done);
  post(std::move(c));
}

void Engine::drop_session(const std::string& id, std::function<void(bool)> done) {
  Command c;
  c.kind = Command::drop_session;
  c.path = id;
  c.done = [done = std::move(done)](bool found, std::string) {
    if (done) done(found);
  };
  post(std::move(c));
}

bool Engine::stopping() const { return stopping_.load(); }

void Engine::stop() {
  // Draining may take drain_timeout_s; past that plus the heartbeat timeout, a wait on a
  // peer can only mean the peer is gone.
  Comm::cap_deadlines(opts_.drain_timeout_s + opts_.heartbeat_timeout_s);
  stopping_ = true;
  cv_.notify_all();
}

EngineSnapshot Engine::snapshot() const {
  std::lock_guard<std::mutex> lk(mu_);
  return snap_;
}

ModelState Engine::model_state() const {
  std::lock_guard<std::mutex> lk(mu_);
  return snap_.state;
}

EngineSnapshot Engine::wait_loaded(double timeout_s) const {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait_for(lk, std::chrono::duration<double>(timeout_s), [&] { return snap_.load_attempted || stopping_; });
  return snap_;
}

std::shared_ptr<const Tokenizer> Engine::tokenizer() const {
  std::lock_guard<std::mutex> lk(mu_);
  return tok_;
}

// ---- engine thread ----

namespace {
// Adds cur - prev (a new model's counters start at 0 again: then all of cur).
void add_delta(metrics::Counter& c, uint64_t prev, uint64_t cur) { c.inc(static_cast<double>(cur >= prev ? cur - prev : cur)); }

void publish_kv_metrics(KvTierMetrics& m, const KvTierStats& p, const KvTierStats& c) {
  add_delta(m.offloaded_blocks, p.disk.offloaded_blocks, c.disk.offloaded_blocks);
  add_delta(m.offloaded_bytes, p.disk.offloaded_bytes, c.disk.offloaded_bytes);
  add_delta(m.restored_blocks, p.sched.disk_hit_blocks, c.sched.disk_hit_blocks);
  add_delta(m.restored_bytes, p.disk.restored_bytes, c.disk.restored_bytes);
  add_delta(m.disk_hits, p.sched.disk_restores, c.sched.disk_restores);
  add_delta(m.disk_misses, p.sched.disk_misses, c.sched.disk_misses);
  add_delta(m.restore_failures, p.sched.disk_failed_blocks, c.sched.disk_failed_blocks);
  add_delta(m.write_drops, p.disk.write_drops, c.disk.write_drops);
  add_delta(m.disk_errors, p.disk.write_errors + p.disk.read_errors, c.disk.write_errors + c.disk.read_errors);
  add_delta(m.bad_files, p.disk.bad_files, c.disk.bad_files);
  add_delta(m.session_hits, p.sessions.hits, c.sessions.hits);
  m.disk_blocks.set(static_cast<double>(c.disk.blocks));
  m.disk_bytes.set(static_cast<double>(c.disk.bytes));
  m.pinned_bytes.set(static_cast<double>(c.sessions.pinned_bytes));
  m.sessions.set(static_cast<double>(c.session_list.size()));
}
}  // namespace

void Engine::publish() {
  const bool up = host_->loaded();
  const Scheduler* s = up ? &host_->sched() : nullptr;
  std::lock_guard<std::mutex> lk(mu_);
  snap_.running = s ? s->n_running() : 0;
  snap_.waiting = s ? s->n_waiting() : 0;
  snap_.kv_blocks = s ? s->kv().capacity() : 0;
  snap_.kv_blocks_used = s ? s->kv().n_used() : 0;
  snap_.requests_total = requests_total_;
  snap_.steps = host_->steps();
  if (s) {
    snap_.preemptions = s->stats().preemptions;
    snap_.prefix_query_tokens = s->stats().prefix_queries_tokens;
    snap_.prefix_hit_tokens = s->stats().prefix_hit_tokens;
  }
  snap_.collective_s_total = host_->collective_seconds();
  snap_.step_s_total = step_s_;
  snap_.collective_timeout_s = host_->collective_timeout_s();
  snap_.collective_deadline_rule = host_->collective_deadline_rule();
  snap_.spec_drafts = spec_drafts_;
  snap_.spec_draft_tokens = spec_draft_tokens_;
  snap_.spec_accepted_tokens = spec_accepted_;
  snap_.spec_accepted_by_position = spec_by_pos_;
  snap_.spec_proposer_s = spec_s_;
  snap_.spec_step_fixed_s = step_cost_.fixed_s();
  snap_.spec_step_per_row_s = step_cost_.per_row_s();
  snap_.spec_paused = spec_paused_;
  snap_.last_activity_unix = last_activity_unix_;
  if (!ranks_.empty()) snap_.ranks = ranks_;
  snap_.kv = host_->kv_tier_stats();
  snap_.grammar = grammar_->stats();
  if (!metrics_) return;
  publish_kv_metrics(metrics_->kv_tiers, published_kv_, snap_.kv);
  published_kv_ = snap_.kv;
  // Counters from the scheduler's totals (deltas since the last publish; a new scheduler starts at 0).
  if (snap_.prefix_query_tokens >= published_queries_ && snap_.prefix_hit_tokens >= published_hits_) {
    metrics_->prefix_cache_queries_total.inc(static_cast<double>(snap_.prefix_query_tokens - published_queries_));
    metrics_->prefix_cache_hits_total.inc(static_cast<double>(snap_.prefix_hit_tokens - published_hits_));
  }
  published_queries_ = snap_.prefix_query_tokens;
  published_hits_ = snap_.prefix_hit_tokens;
  metrics_->requests_running.set(snap_.running);
  metrics_->requests_waiting.set(snap_.waiting);
  metrics_->set_kv_blocks(snap_.kv_blocks_used, snap_.kv_blocks);
  metrics_->model_loaded.set(snap_.state == ModelState::ready ? 1 : 0);
  for (size_t r = 0; r < ranks_.size(); ++r) metrics_->rank_resident_bytes(static_cast<int>(r)).set(ranks_[r].rss_bytes);
}

void Engine::ping() {
  if (Comm::size() > 1) channel_send(MsgKind::PING, {}, opts_.heartbeat_timeout_s, "peer_lost");
  ranks_ = gather_rank_stats(host_->loaded() ? &host_->model() : nullptr, opts_.heartbeat_timeout_s, "peer_lost");
  last_msg_ = Clock::now();
}

void Engine::fail_now(const std::string& why) {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lk(mu_);
    snap_.state = ModelState::unloaded;
  }
  for (auto& r : reqs_) {
    if (r->finished() || r->cancelled) continue;
    reject_request(r->in, ErrorKind::unavailable, why);
  }
  // Requests (and admin commands) that arrived while this thread was blocked on the
  // lost rank: they get the same answer, not a closed connection.
  std::deque<Command> cmds;
  {
    std::lock_guard<std::mutex> lk(mu_);
    cmds.swap(inbox_);
  }
  for (auto& c : cmds) {
    if (c.kind == Command::submit && c.req) reject_request(c.req->in, ErrorKind::unavailable, why);
    if (c.done) c.done(false, why);
    if (c.load_done) c.load_done(LoadReply{LoadReply::failed, false, why});
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the HTTP threads write the errors
}

}  // namespace shardlm
