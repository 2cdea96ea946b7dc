#include "shardlm/engine/model-host.h"

#include <chrono>

#include "shardlm/core/log.h"
#include "shardlm/cluster/channel.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/cluster/rank-model.h"
#include "shardlm/cluster/step-executor.h"
#include "shardlm/model/model-source.h"
#include "shardlm/sampling/merge.h"

namespace shardlm {

namespace {
using Clock = std::chrono::steady_clock;
double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

ModelHost::ModelHost(const EngineOptions& o) : opts_(o), rt_(o.rt) {}
ModelHost::~ModelHost() = default;

namespace {

Result<std::shared_ptr<const Tokenizer>> read_tokenizer(const RuntimeConfig& rt) {
  std::string tok_path = rt.tokenizer_path;
  if (tok_path.empty()) {
    auto src = ModelSource::open(rt.model_path, rt.tokenizer_path);
    if (!src) return src.status();
    tok_path = src.value()->tokenizer_path();
  }
  auto tok = load_tokenizer(tok_path);
  if (!tok) return tok.status();
  return std::shared_ptr<const Tokenizer>(std::move(tok.value()));
}

}  // namespace

Result<std::shared_ptr<const Tokenizer>> ModelHost::tokenizer_for(const RuntimeConfig& rt) {
  if (tok_ && tok_path_model_ == rt.model_path) return tok_;
  std::shared_ptr<const Tokenizer> tok;
  if (checked_tok_ && checked_path_ == rt.model_path) {
    tok = std::move(checked_tok_);
  } else {
    auto read = read_tokenizer(rt);
    if (!read) return read.status();
    tok = read.value();
  }
  checked_tok_.reset();
  tok_ = std::move(tok);
  tok_path_model_ = rt.model_path;
  eos_ = tok_->eos_ids();
  return tok_;
}

Status ModelHost::check(const std::string& path) {
  RuntimeConfig rt = opts_.rt;
  rt.model_path = path;
  auto src = ModelSource::open(path, rt.tokenizer_path);
  if (!src) return src.status();
  if (tok_ && tok_path_model_ == path) return Status::ok();
  auto tok = read_tokenizer(rt);
  if (!tok) return tok.status();
  checked_tok_ = tok.value();
  checked_path_ = path;
  return Status::ok();
}

Status ModelHost::load(const std::string& path) {
  drop();
  RuntimeConfig rt = opts_.rt;
  rt.model_path = path;
  auto tok = tokenizer_for(rt);
  if (!tok) return tok.status();
  rt.max_seqs = opts_.sched.max_num_seqs;  // the KV pool holds that many full contexts
  channel_send(MsgKind::LOAD, encode_load(LoadMsg{rt.model_path, rt.to_json()}), rt.eval_timeout_s);
  auto loaded = load_rank_model(rt);
  if (!loaded) return loaded.status();
  model_ = std::move(loaded.value());
  exec_ = std::make_unique<StepExecutor>(*model_);
  SchedulerConfig sc;
  static_cast<SchedulerOptions&>(sc) = opts_.sched;
  sc.n_blocks = model_->kv_blocks();
  sc.block_size = rt.block_size;
  sc.n_ctx = model_->n_ctx();
  sc.disk_tier = model_->disk() != nullptr;
  sc.block_bytes = static_cast<uint64_t>(model_->kv_block_bytes()) * static_cast<uint64_t>(Comm::size());
  sched_ = std::make_unique<Scheduler>(sc);
  sync_disk();  // the blocks the disk tier found at load
  rt_ = rt;
  if (opts_.prewarm) prewarm();
  LOG_INFO("model ready: {} (n_ctx {}, {} KV blocks of {} tokens)", path, model_->n_ctx(), sc.n_blocks, sc.block_size);
  return Status::ok();
}

void ModelHost::unload() {
  if (model_ && sched_) flush_finished();
  channel_send(MsgKind::UNLOAD, {}, rt_.collective_timeout_s);
  drop();
}

void ModelHost::drop() {
  sched_.reset();
  exec_.reset();
  model_.reset();
}

int ModelHost::max_context() const {
  if (!model_ || !sched_) return 0;
  const int64_t cap = static_cast<int64_t>(sched_->kv().capacity()) * sched_->config().block_size;
  return static_cast<int>(std::min<int64_t>(cap, sched_->config().n_ctx));
}

double ModelHost::load_seconds() const { return model_ ? model_->load_seconds() : 0; }
double ModelHost::collective_timeout_s() const { return model_ ? model_->deadline().timeout_s(1) : 0; }
std::string ModelHost::collective_deadline_rule() const { return model_ ? model_->deadline().rule() : ""; }
double ModelHost::last_collective_seconds() const { return model_ ? model_->last_collective_seconds() : 0; }

std::vector<SampledRow> ModelHost::run(const StepPlan& p) {
  StepRows out;
  const auto t0 = std::chrono::steady_clock::now();
  Status st = run_step_rank0(*exec_, p.msg, model_->begin_step(p.msg), out);
  if (!st) Comm::fatal("error", "step failed: " + st.message());
  model_->end_step(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), p.msg);
  sched_->commit(p);
  if (!p.restores.empty()) {
    const std::vector<uint64_t> failed = sched_->finish_restores(p, exec_->restore_ok());
    for (uint64_t h : failed) model_->disk()->forget(h);  // recomputed; this rank's copy goes too
    if (!failed.empty()) LOG_WARN("kv disk tier: {} restored blocks failed on some rank; recomputed", failed.size());
  }
  sync_disk();
  ++steps_;
  coll_s_ += model_->last_collective_seconds();
  std::vector<SampledRow> rows(out.rows.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = {out.rows[i], std::move(out.cands[i])};
  return rows;
}

void ModelHost::sync_disk() {
  if (model_ && model_->disk() && sched_) sched_->apply_disk_events(model_->disk()->take_events());
}

KvTierStats ModelHost::kv_tier_stats() const {
  KvTierStats t;
  if (!model_ || !sched_) return t;
  t.tier = rt_.kv_tier;
  const KvManager& kv = sched_->kv();
  const uint64_t bb = static_cast<uint64_t>(model_->kv_block_bytes());
  t.memory_blocks = static_cast<uint64_t>(kv.capacity());
  t.memory_used_blocks = static_cast<uint64_t>(kv.n_used());
  t.memory_cached_blocks = static_cast<uint64_t>(kv.n_cached());
  t.memory_bytes = t.memory_blocks * bb;
  t.block_bytes = bb;
  if (const KvDiskStore* d = model_->disk()) {
    t.disk = d->stats();
    t.disk_dir = d->dir();
    t.disk_index_blocks = kv.disk().size();
  }
  t.sched = sched_->stats();
  t.sessions = sched_->session_stats();
  t.session_list = sched_->sessions();
  return t;
}

void ModelHost::flush_finished() {
  StepPlan p = sched_->schedule();
  if (!p.empty()) (void)run(p);
}

void ModelHost::prewarm() {
  auto s = std::make_shared<Sequence>();
  s->id = 0;
  s->tokens = {tok_ && tok_->bos_id() >= 0 ? tok_->bos_id() : 0};
  s->n_prompt = 1;
  s->max_tokens = 1;
  s->sampling.temperature = 0;
  const auto t0 = Clock::now();
  sched_->add(s);
  while (s->state != SeqState::finished) {
    const bool sampled = !run(sched_->schedule()).empty();
    if (sampled) sched_->finish(*s, FinishReason::length);
  }
  flush_finished();  // frees it on the ranks
  LOG_INFO("prewarm forward done in {:.3f} s", secs(Clock::now() - t0));
}

}  // namespace shardlm
