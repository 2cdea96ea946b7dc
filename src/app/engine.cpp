#include "app/engine.h"

#include <algorithm>
#include <cassert>
#include <filesystem>
#include <thread>
#include <unordered_map>

#include "shardlm/core/log.h"
#include "shardlm/core/memory.h"
#include "shardlm/dist/comm.h"
#include "shardlm/dist/exit-audit.h"
#include "shardlm/dist/rank-model.h"
#include "shardlm/dist/step-executor.h"
#include "shardlm/http/metrics.h"
#include "shardlm/model/model-source.h"
#include "shardlm/sampling/candidates.h"
#include "shardlm/sampling/merge.h"
#include "shardlm/sampling/penalties.h"
#include "shardlm/sched/text-stream.h"

namespace shardlm {

namespace {
using Clock = std::chrono::steady_clock;
double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
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

// A live request: its sequence, its output state and its deadlines (engine thread).
struct Engine::Req {
  std::shared_ptr<Sequence> seq;
  EngineRequest in;
  std::unique_ptr<TextStream> text;
  Clock::time_point arrived, first_token, last_token;
  bool got_first = false;
  bool cancelled = false;
};

struct Engine::Command {
  enum Kind { submit, cancel, load, unload } kind = submit;
  uint64_t id = 0;
  std::shared_ptr<EngineRequest> req;
  std::string path;
  std::function<void(bool, std::string)> done;
  Clock::time_point at = Clock::now();
};

Engine::Engine(EngineConfig cfg, ShardlmMetrics* metrics) : cfg_(std::move(cfg)), metrics_(metrics) {
  snap_.started_unix = unix_now();
  snap_.model_path = cfg_.rt.model_path;
  snap_.model_name = std::filesystem::path(cfg_.rt.model_path).filename().string();
  snap_.loads_on_demand = reload_on_demand() && !cfg_.rt.model_path.empty();
}
Engine::~Engine() = default;

void Engine::post(Command c) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    inbox_.push_back(std::move(c));
  }
  cv_.notify_one();
}

uint64_t Engine::submit(EngineRequest r, int* http_status, std::string* error) {
  const ModelState st = state_.load();
  if (stopping_) {
    *http_status = 503;
    *error = "the server is shutting down";
    return 0;
  }
  const bool on_demand = snapshot().loads_on_demand && st != ModelState::unloading;
  if (st != ModelState::ready && !on_demand) {
    *http_status = 503;
    *error = std::string("no model is ready (state: ") + model_state_name(st) + ")";
    return 0;
  }
  Command c;
  c.kind = Command::submit;
  c.id = next_id_++;
  c.req = std::make_shared<EngineRequest>(std::move(r));
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

void Engine::load(const std::string& path, std::function<void(bool, std::string)> done) {
  Command c;
  c.kind = Command::load;
  c.path = path;
  c.done = std::move(done);
  post(std::move(c));
}

void Engine::unload(std::function<void(bool, std::string)> done) {
  Command c;
  c.kind = Command::unload;
  c.done = std::move(done);
  post(std::move(c));
}

bool Engine::stopping() const { return stopping_.load(); }

void Engine::stop() {
  // Draining may take drain_timeout_s; past that plus the heartbeat timeout, a wait on a
  // peer can only mean the peer is gone.
  Comm::cap_deadlines(cfg_.drain_timeout_s + cfg_.heartbeat_timeout_s);
  stopping_ = true;
  cv_.notify_one();
}

EngineSnapshot Engine::snapshot() const {
  std::lock_guard<std::mutex> lk(mu_);
  EngineSnapshot s = snap_;
  s.state = state_.load();
  return s;
}

std::shared_ptr<const Tokenizer> Engine::tokenizer() const {
  std::lock_guard<std::mutex> lk(mu_);
  return tok_;
}

// ---- engine thread ----

namespace {
// The request ends before it started: one final event with the error.
void reject(const EventFn& fn, int status, std::string why) {
  EngineEvent e;
  e.done = true;
  e.finish = FinishReason::error;
  e.error_status = status;
  e.error = std::move(why);
  fn(std::move(e));
}
}  // namespace

void Engine::publish() {
  std::lock_guard<std::mutex> lk(mu_);
  snap_.running = sched_ ? sched_->n_running() : 0;
  snap_.waiting = sched_ ? sched_->n_waiting() : 0;
  snap_.kv_blocks = sched_ ? sched_->blocks().capacity() : 0;
  snap_.kv_blocks_used = sched_ ? sched_->blocks().n_used() : 0;
  snap_.requests_total = requests_total_;
  snap_.steps = steps_;
  snap_.preemptions = sched_ ? sched_->stats().preemptions : 0;
  snap_.prefix_query_tokens = sched_ ? sched_->stats().prefix_queries_tokens : 0;
  snap_.prefix_hit_tokens = sched_ ? sched_->stats().prefix_hit_tokens : 0;
  snap_.collective_s_total = coll_s_;
  snap_.step_s_total = step_s_;
  snap_.last_activity_unix = last_activity_unix_;
  snap_.last_error = last_error_;
  if (!ranks_.empty()) snap_.ranks = ranks_;
  if (metrics_) {
    // Counters from the scheduler's totals (deltas since the last publish).
    if (snap_.prefix_query_tokens >= published_queries_ && snap_.prefix_hit_tokens >= published_hits_) {
      metrics_->prefix_cache_queries_total.inc(static_cast<double>(snap_.prefix_query_tokens - published_queries_));
      metrics_->prefix_cache_hits_total.inc(static_cast<double>(snap_.prefix_hit_tokens - published_hits_));
    }
    published_queries_ = snap_.prefix_query_tokens;
    published_hits_ = snap_.prefix_hit_tokens;
    metrics_->requests_running.set(snap_.running);
    metrics_->requests_waiting.set(snap_.waiting);
    metrics_->set_kv_blocks(snap_.kv_blocks_used, snap_.kv_blocks);
    metrics_->model_loaded.set(state_.load() == ModelState::ready ? 1 : 0);
    for (size_t r = 0; r < ranks_.size(); ++r) metrics_->rank_resident_bytes(static_cast<int>(r)).set(ranks_[r].rss_bytes);
  }
}

void Engine::ping() {
  if (Comm::size() > 1) channel_send(MsgKind::PING, {}, cfg_.heartbeat_timeout_s, "peer_lost");
  ranks_ = gather_rank_stats(model_.get(), cfg_.heartbeat_timeout_s, "peer_lost");
  last_msg_ = Clock::now();
}

void Engine::fail_now(const std::string& why) {
  stopping_ = true;
  state_ = ModelState::unloaded;
  for (auto& r : reqs_) {
    if (r->seq->state == SeqState::finished || r->cancelled) continue;
    reject(r->in.on_event, 503, why);
  }
  // Requests (and admin commands) that arrived while this thread was blocked on the
  // lost rank: they get the same answer, not a closed connection.
  std::deque<Command> cmds;
  {
    std::lock_guard<std::mutex> lk(mu_);
    cmds.swap(inbox_);
  }
  for (auto& c : cmds) {
    if (c.kind == Command::submit && c.req) reject(c.req->on_event, 503, why);
    if (c.done) c.done(false, why);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the HTTP threads write the errors
}

void Engine::prewarm() {
  // One short sequence through the whole path (plan, broadcast, forward, sampling).
  auto s = std::make_shared<Sequence>();
  s->id = 0;
  s->tokens = {tok_->bos_id() >= 0 ? tok_->bos_id() : 0};
  s->n_prompt = 1;
  s->max_tokens = 1;
  s->sampling.temperature = 0;
  const auto t0 = Clock::now();
  sched_->add(s);
  while (s->state != SeqState::finished) {
    StepPlan p = sched_->schedule();
    StepRows rows;
    Status st = run_step_rank0(*exec_, p.msg, cfg_.rt.collective_timeout_s, rows);
    if (!st) Comm::fatal("error", "prewarm step failed: " + st.message());
    sched_->commit(p);
    if (!rows.rows.empty()) sched_->finish(*s, FinishReason::length);
  }
  StepPlan p = sched_->schedule();  // frees it on the ranks
  StepRows rows;
  (void)run_step_rank0(*exec_, p.msg, cfg_.rt.collective_timeout_s, rows);
  LOG_INFO("prewarm forward done in {:.3f} s", secs(Clock::now() - t0));
}

Result<std::shared_ptr<const Tokenizer>> Engine::load_model_tokenizer(const RuntimeConfig& rt) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (tok_ && tok_model_ == rt.model_path) return tok_;
  }
  std::string tok_path = rt.tokenizer_path;
  if (tok_path.empty()) {
    auto src = ModelSource::open(rt.model_path, rt.tokenizer_path);
    if (!src) return src.status();
    tok_path = src.value()->tokenizer_path();
  }
  auto tok = load_tokenizer(tok_path);
  if (!tok) return tok.status();
  std::shared_ptr<const Tokenizer> t(std::move(tok.value()));
  std::lock_guard<std::mutex> lk(mu_);
  tok_model_ = rt.model_path;
  return t;
}

Status Engine::do_load(const std::string& path) {
  RuntimeConfig rt = cfg_.rt;
  rt.model_path = path;
  state_ = ModelState::loading;
  {
    std::lock_guard<std::mutex> lk(mu_);
    snap_.model_path = path;
    snap_.model_name = std::filesystem::path(path).filename().string();
  }
  publish();
  // Tokenizer first (rank 0 only): a bad tokenizer fails before any rank loads.
  auto tok = load_model_tokenizer(rt);
  if (!tok) return tok.status();
  rt.max_seqs = std::max(rt.max_seqs, cfg_.max_num_seqs);
  channel_send(MsgKind::LOAD, encode_load(LoadMsg{rt.model_path, rt.to_json()}), rt.eval_timeout_s);
  auto loaded = load_rank_model(rt);
  if (!loaded) return loaded.status();
  model_ = std::move(loaded.value());
  exec_ = std::make_unique<StepExecutor>(*model_);
  SchedulerConfig sc;
  sc.n_blocks = model_->kv_blocks();
  sc.block_size = rt.block_size;
  sc.n_ctx = model_->n_ctx();
  sc.max_num_seqs = cfg_.max_num_seqs;
  sc.max_batch_tokens = cfg_.max_batch_tokens;
  sc.max_queue = cfg_.max_queue;
  sc.prefix_cache = cfg_.prefix_cache;
  sched_ = std::make_unique<Scheduler>(sc);
  eos_ = tok.value()->eos_ids();
  {
    std::lock_guard<std::mutex> lk(mu_);
    tok_ = tok.value();
    snap_.n_ctx = model_->n_ctx();
    snap_.n_vocab = model_->hparams().n_vocab;
    snap_.block_size = rt.block_size;
  }
  cfg_.rt = rt;
  model_path_ = path;
  if (cfg_.prewarm) prewarm();
  ping();
  last_request_ = Clock::now();
  state_ = ModelState::ready;
  publish();
  LOG_INFO("model ready: {} (n_ctx {}, {} KV blocks of {} tokens)", path, model_->n_ctx(), sc.n_blocks, sc.block_size);
  return Status::ok();
}

Status Engine::load_or_reset(const std::string& path) {
  Status st = do_load(path);
  if (!st) {
    LOG_ERROR("load failed: {}", st.message());
    last_error_ = st.message();
    exec_.reset();
    model_.reset();
    sched_.reset();
    state_ = ModelState::unloaded;
    publish();
  } else {
    last_error_.clear();
  }
  return st;
}

void Engine::do_unload() {
  if (!model_ && state_ == ModelState::unloaded) return;
  state_ = ModelState::unloading;
  publish();
  abort_all(503, "the model is being unloaded");
  if (model_ && sched_) {  // free every sequence on the ranks
    StepPlan p = sched_->schedule();
    if (!p.empty()) {
      StepRows rows;
      (void)run_step_rank0(*exec_, p.msg, cfg_.rt.collective_timeout_s, rows);
    }
  }
  channel_send(MsgKind::UNLOAD, {}, cfg_.rt.collective_timeout_s);
  sched_.reset();
  exec_.reset();
  model_.reset();
  if (!reload_on_demand()) {  // on demand: keep the tokenizer, requests tokenize before the reload
    std::lock_guard<std::mutex> lk(mu_);
    tok_.reset();
  }
  trim_heap();
  state_ = ModelState::unloaded;
  ping();
  publish();
  LOG_INFO("unloaded (rss {:.1f} MiB)", rss_bytes() / 1048576.0);
}

void Engine::handle(Command& c) {
  switch (c.kind) {
    case Command::submit: {
      auto r = std::make_shared<Req>();
      r->in = std::move(*c.req);
      r->arrived = c.at;
      ++requests_total_;
      last_activity_unix_ = unix_now();
      last_request_ = Clock::now();
      if (!sched_ && reload_on_demand() && !model_path_.empty()) {
        LOG_INFO("loading {} on demand", model_path_);
        (void)load_or_reset(model_path_);
      }
      if (!sched_ || state_ != ModelState::ready) {
        reject(r->in.on_event, 503, "no model is ready");
        return;
      }
      auto s = std::make_shared<Sequence>();
      s->id = c.id;
      s->tokens = r->in.prompt;
      s->n_prompt = static_cast<int>(r->in.prompt.size());
      s->max_tokens = r->in.max_tokens;
      s->sampling = r->in.sampling;
      s->n_top = r->in.n_top;
      s->need_history = penalties_active(s->sampling);
      const int64_t cap = static_cast<int64_t>(sched_->blocks().capacity()) * sched_->config().block_size;
      if (static_cast<int64_t>(s->n_prompt) + s->max_tokens > std::min<int64_t>(cap, sched_->config().n_ctx)) {
        reject(r->in.on_event, 400, fmt::format("prompt ({} tokens) plus max_tokens ({}) exceeds the context of {} tokens",
                              s->n_prompt, s->max_tokens, std::min<int64_t>(cap, sched_->config().n_ctx)));
        return;
      }
      if (!sched_->add(s)) {
        reject(r->in.on_event, 429, fmt::format("the server is busy: {} requests are waiting (--max-queue)", sched_->n_waiting()));
        if (metrics_) metrics_->requests_finished("error").inc();
        return;
      }
      r->seq = s;
      r->text = std::make_unique<TextStream>(*tok_, r->in.stop);
      if (metrics_) metrics_->prompt_tokens_total.inc(s->n_prompt);
      reqs_.push_back(std::move(r));
      break;
    }
    case Command::cancel:
      for (auto& r : reqs_)
        if (r->seq->id == c.id && r->seq->state != SeqState::finished) {
          LOG_INFO("request {} cancelled (client gone) after {} tokens", c.id, r->seq->n_generated());
          r->cancelled = true;
          end(*r, FinishReason::abort);
        }
      break;
    case Command::load: {
      if (state_ == ModelState::ready) do_unload();
      Status st = load_or_reset(c.path);
      if (c.done) c.done(st.is_ok(), st.is_ok() ? "loaded" : st.message());
      break;
    }
    case Command::unload:
      do_unload();
      if (c.done) c.done(true, "unloaded");
      break;
  }
}

void Engine::end(Req& r, FinishReason why, int error_status, const std::string& error) {
  Sequence& s = *r.seq;
  if (s.state == SeqState::finished) return;
  sched_->finish(s, why);
  EngineEvent e;
  e.done = true;
  e.finish = why;
  e.error_status = error_status;
  e.error = error;
  if (why == FinishReason::length) e.text = r.text->flush();
  e.prompt_tokens = s.n_prompt;
  e.completion_tokens = s.n_generated();
  e.cached_tokens = s.n_cached;
  if (metrics_) {
    metrics_->requests_finished(finish_reason_name(why)).inc();
    metrics_->request_duration_seconds.observe(secs(Clock::now() - r.arrived));
  }
  audit_count_request();
  last_activity_unix_ = unix_now();
  if (!r.cancelled) r.in.on_event(std::move(e));
}

void Engine::abort_all(int status, const std::string& why) {
  for (auto& r : reqs_) end(*r, FinishReason::error, status, why);
  reqs_.clear();
}

void Engine::on_token(Req& r, int32_t tok, float logprob, std::vector<std::pair<int32_t, float>> top) {
  Sequence& s = *r.seq;
  const auto now = Clock::now();
  if (metrics_) {
    metrics_->generation_tokens_total.inc();
    if (!r.got_first) metrics_->time_to_first_token_seconds.observe(secs(now - r.arrived));
    else metrics_->inter_token_latency_seconds.observe(secs(now - r.last_token));
  }
  if (!r.got_first && metrics_) metrics_->cached_prompt_tokens_total.inc(s.n_cached);
  r.got_first = true;
  r.last_token = now;
  EngineEvent e;
  if (r.in.logprobs) e.tokens.push_back({tok, logprob, std::move(top)});
  // ignore_eos skips only the vocabulary's end-of-generation ids; stop_token_ids always stop.
  const bool is_eos = (!r.in.ignore_eos && std::binary_search(eos_.begin(), eos_.end(), tok)) ||
                      std::find(r.in.stop_token_ids.begin(), r.in.stop_token_ids.end(), tok) != r.in.stop_token_ids.end();
  if (is_eos) {
    s.tokens.push_back(tok);  // counted as generated (as OpenAI and vLLM do), not shown
    e.text = r.text->flush();
    if (!e.text.empty() || !e.tokens.empty()) r.in.on_event(std::move(e));
    end(r, FinishReason::stop);
    return;
  }
  s.tokens.push_back(tok);
  TextStream::Delta d = r.text->push(tok);
  e.text = std::move(d.text);
  if (!e.text.empty() || !e.tokens.empty()) r.in.on_event(std::move(e));
  if (d.stopped) end(r, FinishReason::stop);
  else if (s.n_generated() >= s.max_tokens) end(r, FinishReason::length);
}

void Engine::check_deadlines() {
  const auto now = Clock::now();
  for (auto& r : reqs_) {
    if (r->seq->state == SeqState::finished) continue;
    const double age = secs(now - r->arrived);
    if (cfg_.request_timeout_s > 0 && age > cfg_.request_timeout_s)
      end(*r, FinishReason::timeout, 503, fmt::format("request deadline of {} s exceeded (--request-timeout-s)", cfg_.request_timeout_s));
    else if (!r->got_first && cfg_.first_token_timeout_s > 0 && age > cfg_.first_token_timeout_s)
      end(*r, FinishReason::timeout, 503,
          fmt::format("no first token within {} s (--first-token-timeout-s)", cfg_.first_token_timeout_s));
  }
}

void Engine::step() {
  const auto t0 = Clock::now();
  StepPlan p = sched_->schedule();
  if (p.empty()) return;
  StepRows out;
  Status st = run_step_rank0(*exec_, p.msg, cfg_.rt.collective_timeout_s, out);
  if (!st) Comm::fatal("error", "step failed: " + st.message());
  last_msg_ = Clock::now();
  sched_->commit(p);
  std::unordered_map<const Sequence*, Req*> by_seq;  // one pass, not a search per sampled row
  by_seq.reserve(reqs_.size());
  for (auto& r : reqs_) by_seq.emplace(r->seq.get(), r.get());
  std::unordered_map<uint64_t, Sequence*> by_wire;  // the step's sequences, by the wire id the rows name
  by_wire.reserve(p.seqs.size());
  for (const auto& x : p.seqs) by_wire.emplace(x.seq->wire_id, x.seq);
  for (size_t row = 0; row < out.rows.size(); ++row) {
    auto w = by_wire.find(out.rows[row].seq_id);
    assert(w != by_wire.end() && "a row of rank 0's own table names a sequence of the step");
    if (w == by_wire.end()) continue;
    Sequence& s = *w->second;
    auto it = by_seq.find(&s);
    const auto& c = out.cands[row];
    if (it == by_seq.end() || s.state == SeqState::finished) continue;
    // Only the row of the last token computed extends the sequence (counter pos + 1 = n_computed).
    const uint64_t counter = static_cast<uint64_t>(out.rows[row].pos) + 1;
    if (counter != static_cast<uint64_t>(s.n_computed)) continue;
    float lp = 0;
    const int32_t tok = merge_and_sample(c, s.sampling, 0, counter, &lp);
    if (tok < 0) {
      end(*it->second, FinishReason::error, 500, "sampling found no finite logit");
      continue;
    }
    std::vector<std::pair<int32_t, float>> top;
    if (s.n_top > 0) top = top_logprobs(c, s.n_top);
    on_token(*it->second, tok, lp, std::move(top));
  }
  reqs_.erase(std::remove_if(reqs_.begin(), reqs_.end(), [](const auto& r) { return r->seq->state == SeqState::finished; }),
              reqs_.end());
  ++steps_;
  const double dt = secs(Clock::now() - t0);
  coll_s_ += model_->last_collective_seconds();
  step_s_ += dt;
  if (metrics_) metrics_->observe_step(dt, model_->last_collective_seconds());
}

int Engine::run() {
  last_msg_ = Clock::now();
  model_path_ = cfg_.rt.model_path;
  if (!cfg_.rt.model_path.empty() && cfg_.lazy_load) {
    auto tok = load_model_tokenizer(cfg_.rt);
    if (!tok) {
      LOG_ERROR("tokenizer: {}", tok.message());
      last_error_ = tok.message();
    } else {
      std::lock_guard<std::mutex> lk(mu_);
      tok_ = tok.value();
    }
    // The context length is known before the load (requests are checked against it).
    if (auto src = ModelSource::open(cfg_.rt.model_path, cfg_.rt.tokenizer_path)) {
      std::lock_guard<std::mutex> lk(mu_);
      snap_.n_ctx = RuntimeConfig::resolve_n_ctx(cfg_.rt.n_ctx, src.value()->hparams().n_ctx_train);
    }
    ping();
    publish();
  } else if (!cfg_.rt.model_path.empty()) {
    (void)load_or_reset(cfg_.rt.model_path);
  } else {
    ping();
    publish();
  }
  auto drain_deadline = Clock::time_point::max();
  for (;;) {
    std::deque<Command> cmds;
    {
      std::unique_lock<std::mutex> lk(mu_);
      const bool busy = sched_ && !sched_->idle();
      if (inbox_.empty() && !busy && !stopping_)
        cv_.wait_for(lk, std::chrono::duration<double>(cfg_.ping_interval_s));
      cmds.swap(inbox_);
    }
    for (auto& c : cmds) {
      if (stopping_ && c.kind == Command::submit) {
        reject(c.req->on_event, 503, "the server is shutting down");
        continue;
      }
      handle(c);
    }
    if (stopping_) {
      if (drain_deadline == Clock::time_point::max()) {
        drain_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg_.drain_timeout_s));
        LOG_INFO("stopping: draining {} requests (up to {} s)", reqs_.size(), cfg_.drain_timeout_s);
      }
      if (reqs_.empty() || Clock::now() > drain_deadline) break;
    }
    if (sched_) {
      check_deadlines();
      reqs_.erase(std::remove_if(reqs_.begin(), reqs_.end(), [](const auto& r) { return r->seq->state == SeqState::finished; }),
                  reqs_.end());
      if (!sched_->idle()) step();
    }
    if (cfg_.idle_timeout_s > 0 && state_ == ModelState::ready && reqs_.empty() && sched_ && sched_->idle() &&
        secs(Clock::now() - last_request_) >= cfg_.idle_timeout_s) {
      LOG_INFO("idle for {} s: unloading (the next request loads the model again)", cfg_.idle_timeout_s);
      do_unload();
    }
    if (secs(Clock::now() - last_msg_) >= cfg_.ping_interval_s) ping();
    publish();
  }
  if (sched_) abort_all(503, "the server is shutting down");
  if (model_ && sched_) {
    StepPlan p = sched_->schedule();
    if (!p.empty()) {
      StepRows rows;
      (void)run_step_rank0(*exec_, p.msg, cfg_.rt.collective_timeout_s, rows);
    }
  }
  exec_.reset();
  model_.reset();
  sched_.reset();
  state_ = ModelState::unloaded;
  if (Comm::size() > 1) channel_send(MsgKind::SHUTDOWN, {}, cfg_.heartbeat_timeout_s, "peer_lost");
  std::vector<double> rss = shutdown_gather_rss(cfg_.heartbeat_timeout_s);
  std::string rss_s;
  for (size_t r = 0; r < rss.size(); ++r) rss_s += fmt::format("{}{:.1f}", r ? "," : "", rss[r] / 1048576.0);
  LOG_INFO("all ranks stopped; resident MiB per rank at shutdown: [{}]", rss_s);
  exit_audit("server_shutdown");
  return 0;
}

}  // namespace shardlm
