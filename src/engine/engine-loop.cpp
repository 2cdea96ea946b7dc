// The engine loop: drain the inbox, check deadlines, run one step, deliver what was
// sampled, heartbeat while idle; on stop, drain and shut every rank down.
// Engine thread only.
#include <algorithm>
#include <unordered_map>

#include "shardlm/core/log.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/cluster/exit-audit.h"
#include "shardlm/engine/engine.h"
#include "shardlm/engine/model-host.h"
#include "shardlm/engine/request-state.h"
#include "shardlm/metrics/shardlm-metrics.h"
#include "shardlm/sampling/merge.h"
#include "shardlm/sampling/spec-verify.h"
#include "shardlm/spec/draft-model.h"
#include "shardlm/spec/ngram-proposer.h"

namespace shardlm {

namespace {
using Clock = std::chrono::steady_clock;
double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

void Engine::admit(std::shared_ptr<LiveRequest> r) {
  ++requests_total_;
  last_activity_unix_ = unix_now();
  last_request_ = Clock::now();
  if (!r->in.results) return;  // nobody to answer: a caller bug
  load_on_demand();
  if (!host_->loaded() || model_state() != ModelState::ready)
    return reject_request(r->in, ErrorKind::unavailable,
                          std::string("no model is ready (state: ") + model_state_name(model_state()) + ")");
  const int64_t limit = host_->max_context();
  const int64_t n_prompt = static_cast<int64_t>(r->in.prompt.size());
  if (n_prompt + r->in.max_tokens > limit)
    return reject_request(r->in, ErrorKind::invalid_request,
                          fmt::format("prompt ({} tokens) plus max_tokens ({}) exceeds the context of {} tokens", n_prompt,
                                      r->in.max_tokens, limit));
  r->start(*host_->tokenizer());
  if (r->in.grammar) {
    r->in.ignore_eos = false;  // the grammar decides where the output may end
    r->in.speculate = false;   // constrained rows are sampled one at a time (no draft tokens)
    r->grammar = std::make_unique<RequestGrammar>(grammar_->start(r->in.grammar, r->in.grammar_key, host_->tokenizer()));
  }
  if (!host_->sched().add(r->seq)) {
    if (metrics_) metrics_->requests_finished("error").inc();
    return reject_request(r->in, ErrorKind::rate_limited,
                          fmt::format("the server is busy: {} requests are waiting (--max-queue)", host_->sched().n_waiting()));
  }
  if (metrics_) metrics_->prompt_tokens_total.inc(static_cast<double>(n_prompt));
  r->spec_rate = spec_rate_all_;  // a new sequence starts from what recent drafts achieved
  reqs_.push_back(std::move(r));
}

void Engine::handle(Command& c) {
  switch (c.kind) {
    case Command::submit:
      if (stopping_) return reject_request(c.req->in, ErrorKind::unavailable, "the server is shutting down");
      return admit(std::move(c.req));
    case Command::cancel:
      for (auto& r : reqs_)
        if (r->id == c.id && !r->finished()) {
          LOG_INFO("request {} cancelled (client gone) after {} tokens", c.id, r->seq->n_generated());
          r->cancelled = true;
          end(*r, FinishReason::abort);
        }
      return;
    case Command::load: {
      LoadReply reply = replace_model(c.path);
      if (c.load_done) c.load_done(std::move(reply));
      return;
    }
    case Command::unload:
      unload_now();
      if (c.done) c.done(true, "unloaded");
      return;
    case Command::drop_session: {
      const bool found = host_->loaded() && host_->sched().drop_session(c.path);
      publish();
      if (c.done) c.done(found, "");
      return;
    }
  }
}

void Engine::end(LiveRequest& r, FinishReason why, RequestError error) {
  if (r.finished()) return;
  host_->sched().finish(*r.seq, why);
  if (metrics_) {
    metrics_->requests_finished(finish_reason_name(why)).inc();
    metrics_->request_duration_seconds.observe(secs(Clock::now() - r.arrived));
  }
  audit_count_request();
  last_activity_unix_ = unix_now();
  if (draft_) draft_->forget(r.seq->id);
  // finish() pinned the session: publish it before the reply, so a client that reads
  // /admin/sessions after its response sees its own session (the step's publish comes
  // after every reply of the step).
  if (!r.seq->session.empty()) publish();
  r.send_final(why, std::move(error));
}

void Engine::abort_all(ErrorKind kind, const std::string& why) {
  for (auto& r : reqs_) end(*r, kind == ErrorKind::timeout ? FinishReason::timeout : FinishReason::error, {kind, why});
  reqs_.clear();
}

void Engine::deliver(LiveRequest& r, int32_t tok, float logprob, std::vector<std::pair<int32_t, float>> top) {
  const auto now = Clock::now();
  if (metrics_) {
    metrics_->generation_tokens_total.inc();
    if (!r.got_first) {
      metrics_->time_to_first_token_seconds.observe(secs(now - r.arrived));
      metrics_->cached_prompt_tokens_total.inc(r.seq->n_cached);
    } else {
      metrics_->inter_token_latency_seconds.observe(secs(now - r.last_token));
    }
  }
  r.got_first = true;
  r.last_token = now;
  // The mask let only allowed tokens through; a token the state refuses is a bug, never output.
  if (r.grammar && !grammar_->accept(*r.grammar, tok))
    return end(r, FinishReason::error,
               {ErrorKind::internal, fmt::format("sampled token {}, which the output grammar does not allow", tok)});
  FinishReason why = r.take_token(TokenOut{tok, logprob, std::move(top)}, host_->eos_ids());
  // The grammar's document is whole and nothing may follow: the answer ends here.
  if (why == FinishReason::none && r.grammar && r.grammar->state.is_finished()) why = FinishReason::stop;
  if (why != FinishReason::none) end(r, why);
}

void Engine::check_deadlines() {
  const auto now = Clock::now();
  for (auto& r : reqs_) {
    if (r->finished()) continue;
    if (auto e = r->deadline_passed(now, opts_)) end(*r, FinishReason::timeout, std::move(*e));
  }
}

void Engine::drop_finished() {
  reqs_.erase(std::remove_if(reqs_.begin(), reqs_.end(), [](const auto& r) { return r->finished(); }), reqs_.end());
}

// Proposals for the decoding sequences (greedy and sampled, penalties or not), while few enough decode that a step is
// bound by reading the weights (its cost hardly grows with a few more tokens).
void Engine::propose() {
  const SpecOptions& so = opts_.spec;
  if (!so.on()) return;
  const auto t0 = Clock::now();
  auto decoding = [](const LiveRequest& r) {
    return !r.finished() && r.seq->state == SeqState::running && r.seq->gap() == 1 && r.seq->on_ranks;
  };
  const auto n_decoding = std::count_if(reqs_.begin(), reqs_.end(), [&](const auto& r) { return decoding(*r); });
  if (n_decoding == 0 || n_decoding > so.max_seqs) return;
  // The acceptance a draft token needs to gain throughput in a step of this many sequences.
  const double need = step_cost_.row_share(static_cast<int>(n_decoding));
  for (auto& r : reqs_) {
    if (!decoding(*r) || !r->in.speculate || r->grammar) continue;
    if (r->spec_wait > 0) {
      --r->spec_wait;
      ++spec_paused_;
      continue;
    }
    Sequence& s = *r->seq;
    // Below what a row costs: one token, as a probe, then a pause (verify() ends it early
    // when a draft is accepted).
    const bool probe = r->spec_rate < need;
    const int want = probe ? 1 : (r->spec_k > 0 ? r->spec_k : so.num_speculative_tokens);
    const int k = std::min(want, s.max_tokens - s.n_generated() - 1);
    if (k <= 0) continue;
    // A draft model's sampled proposals carry their distribution q for the rejection
    // test. An n-gram proposal is certain (q = 1 on its token): verify() samples its row
    // as without speculation and accepts while the token equals it (see verify()).
    const bool sampled = s.sampling.mode() != SamplingMode::greedy;
    s.draft_q.clear();
    if (draft_) s.draft = draft_->propose(s.id, s.tokens, k, s.sampling, sampled ? &s.draft_q : nullptr);
    else s.draft = ngram_propose(s.tokens, so.ngram_min, so.ngram_max, k);
    if (probe && !s.draft.empty()) r->spec_wait = so.probe_steps - 1;  // a probe was sent: pause
  }
  spec_s_ += secs(Clock::now() - t0);
}

void Engine::verify(LiveRequest& r, const ScheduledSeq& x, std::vector<SampledRow*>& rows) {
  Sequence& s = *r.seq;
  const std::vector<int32_t>& draft = x.draft;
  size_t accepted = 0;
  for (size_t i = 0; i < rows.size() && !r.finished(); ++i) {
    float lp = 0;
    // The sampling counter of a row is its position + 1 (every rank used the same).
    const uint64_t counter = static_cast<uint64_t>(rows[i]->row.pos) + 1;
    // A draft without q (greedy, or a certain proposal): the row's ordinary token, the
    // draft accepted while they are equal. For a sampled row that is rejection sampling
    // with q = 1 on the draft: accepted with probability p(draft), and a different token
    // is a draw from p without the draft. The draws are the ones decoding without
    // speculation makes, so the tokens are those too, seed for seed.
    int32_t tok = -1;
    if (i < draft.size() && i < x.draft_q.size()) {
      const SpecVerdict v = verify_proposal(rows[i]->cands, s.sampling, 0, counter, draft[i], x.draft_q[i]);
      tok = v.token;
      lp = v.logprob;
    } else {
      tok = merge_and_sample(rows[i]->cands, s.sampling, 0, counter, &lp);
    }
    if (tok < 0) return end(r, FinishReason::error, {ErrorKind::internal, r.grammar ? "the output grammar allows no token of this vocabulary here"
                                                                      : "sampling found no finite logit"});
    std::vector<std::pair<int32_t, float>> top;
    if (s.n_top > 0) top = top_logprobs(rows[i]->cands, s.n_top);
    deliver(r, tok, lp, std::move(top));
    if (i >= draft.size() || tok != draft[i]) break;  // the next row was computed after a wrong token
    ++accepted;
  }
  if (draft.empty()) return;
  // Adapt: ask for one more than was accepted next time (at least 1, at most K), and
  // follow the share accepted (propose() compares it with what a row costs).
  r.spec_k = std::clamp(static_cast<int>(accepted) + 1, 1, opts_.spec.num_speculative_tokens);
  const double rate = static_cast<double>(accepted) / static_cast<double>(draft.size());
  r.spec_rate = 0.7 * r.spec_rate + 0.3 * rate;
  spec_rate_all_ = 0.95 * spec_rate_all_ + 0.05 * rate;
  if (accepted > 0) r.spec_wait = 0;
  ++spec_drafts_;
  spec_draft_tokens_ += draft.size();
  spec_accepted_ += accepted;
  if (spec_by_pos_.size() < static_cast<size_t>(opts_.spec.num_speculative_tokens))
    spec_by_pos_.resize(static_cast<size_t>(opts_.spec.num_speculative_tokens));
  for (size_t i = 0; i < accepted && i < spec_by_pos_.size(); ++i) ++spec_by_pos_[i];
  if (metrics_) {
    metrics_->spec_drafts_total.inc();
    metrics_->spec_draft_tokens_total.inc(static_cast<double>(draft.size()));
    metrics_->spec_accepted_tokens_total.inc(static_cast<double>(accepted));
  }
}

// The allowed tokens of every constrained row, computed from its request's grammar
// state (rank 0 owns it) and sent with the step; every rank masks its vocabulary slice.
void Engine::add_masks(StepPlan& p, const std::unordered_map<uint64_t, LiveRequest*>& by_wire) {
  for (size_t i = 0; i < p.msg.rows.size(); ++i) {
    auto it = by_wire.find(p.msg.rows[i].seq_id);
    if (it == by_wire.end() || !it->second->grammar || it->second->finished()) continue;
    p.msg.masks.push_back({static_cast<uint32_t>(i), grammar_->mask(*it->second->grammar)});
  }
}

void Engine::step() {
  const auto t0 = Clock::now();
  propose();
  StepPlan p = host_->sched().schedule();
  if (p.empty()) return;
  // Rows name their sequence by its id on the ranks; the plan says which sequence that
  // is. A sequence's rows are contiguous in the table (its last known token, then its drafts).
  std::unordered_map<uint64_t, const ScheduledSeq*> by_wire;
  for (const auto& x : p.seqs) by_wire.emplace(x.seq->wire_id, &x);
  std::unordered_map<const Sequence*, LiveRequest*> by_seq;
  by_seq.reserve(reqs_.size());
  for (auto& r : reqs_) by_seq.emplace(r->seq.get(), r.get());
  std::unordered_map<uint64_t, LiveRequest*> req_by_wire;
  for (const auto& x : p.seqs)
    if (auto r = by_seq.find(x.seq); r != by_seq.end() && r->second->grammar) req_by_wire.emplace(x.seq->wire_id, r->second);
  if (!req_by_wire.empty()) add_masks(p, req_by_wire);
  std::vector<SampledRow> rows = host_->run(p);
  last_msg_ = Clock::now();
  std::vector<SampledRow*> mine;
  for (size_t i = 0, j = 0; i < rows.size(); i = j) {
    const uint64_t id = rows[i].row.seq_id;
    mine.clear();
    for (j = i; j < rows.size() && rows[j].row.seq_id == id; ++j) mine.push_back(&rows[j]);
    auto x = by_wire.find(id);
    if (x == by_wire.end()) Comm::fatal("error", fmt::format("step: a logit row names sequence {}, not in the plan", id));
    auto it = by_seq.find(x->second->seq);
    if (it == by_seq.end() || it->second->finished()) continue;
    verify(*it->second, *x->second, mine);
  }
  host_->sched().accept_drafts(p);
  drop_finished();
  const double dt = secs(Clock::now() - t0);
  step_s_ += dt;
  // Decode-only steps (every row a last token or a draft) teach the row cost; prompt
  // chunks' rows cost differently.
  if (opts_.spec.on() && std::all_of(p.seqs.begin(), p.seqs.end(), [](const ScheduledSeq& x) {
        return x.n_tokens == 1 + static_cast<int>(x.draft.size());
      }))
    step_cost_.observe(p.n_tokens, dt);
  if (metrics_) metrics_->observe_step(dt, host_->last_collective_seconds());
}

void Engine::serve_loop() {
  auto drain_deadline = Clock::time_point::max();
  for (;;) {
    std::deque<Command> cmds;
    {
      std::unique_lock<std::mutex> lk(mu_);
      const bool busy = host_->loaded() && !host_->sched().idle();
      if (inbox_.empty() && !busy && !stopping_) cv_.wait_for(lk, std::chrono::duration<double>(opts_.ping_interval_s));
      cmds.swap(inbox_);
    }
    for (auto& c : cmds) handle(c);
    if (stopping_) {
      if (drain_deadline == Clock::time_point::max()) {
        drain_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opts_.drain_timeout_s));
        LOG_INFO("stopping: draining {} requests (up to {} s)", reqs_.size(), opts_.drain_timeout_s);
      }
      if (reqs_.empty() || Clock::now() > drain_deadline) break;
    }
    if (host_->loaded()) {
      check_deadlines();
      drop_finished();
      if (!host_->sched().idle()) step();
    }
    maybe_idle_unload();
    if (secs(Clock::now() - last_msg_) >= opts_.ping_interval_s) ping();
    publish();
  }
}

void Engine::shutdown_ranks() {
  if (host_->loaded()) {
    abort_all(ErrorKind::unavailable, "the server is shutting down");
    host_->flush_finished();
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    snap_.state = ModelState::unloaded;
  }
  host_->drop();  // no UNLOAD round: SHUTDOWN follows
  if (Comm::size() > 1) channel_send(MsgKind::SHUTDOWN, {}, opts_.heartbeat_timeout_s, "peer_lost");
  std::vector<double> rss = shutdown_gather_rss(opts_.heartbeat_timeout_s);
  std::string rss_s;
  for (size_t r = 0; r < rss.size(); ++r) rss_s += fmt::format("{}{:.1f}", r ? "," : "", rss[r] / 1048576.0);
  LOG_INFO("all ranks stopped; resident MiB per rank at shutdown: [{}]", rss_s);
  std::lock_guard<std::mutex> lk(mu_);
  snap_.shutdown_rss = std::move(rss);
}

int Engine::run() {
  last_msg_ = Clock::now();
  model_path_ = opts_.rt.model_path;
  start_lifecycle();
  serve_loop();
  shutdown_ranks();
  return 0;
}

}  // namespace shardlm
