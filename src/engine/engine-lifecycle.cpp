// The model lifecycle of the engine (ARCHITECTURE §8): unloaded → loading → ready →
// unloading → unloaded, at start, on admin load/unload, lazily on the first request,
// and after --idle-timeout-s. The mechanics (LOAD/UNLOAD on every rank) are the model
// host's; this file decides and publishes. Engine thread only.
#include <filesystem>

#include "shardlm/core/log.h"
#include "shardlm/core/memory.h"
#include "shardlm/cluster/rank-model.h"
#include "shardlm/engine/engine.h"
#include "shardlm/engine/model-host.h"
#include "shardlm/engine/request-state.h"
#include "shardlm/model/model-source.h"
#include "shardlm/spec/draft-model.h"

namespace shardlm {

void Engine::set_loaded_view() {
  std::lock_guard<std::mutex> lk(mu_);
  if (host_->loaded()) {
    snap_.n_ctx = host_->model().n_ctx();
    snap_.n_vocab = host_->model().hparams().n_vocab;
    snap_.block_size = host_->runtime().block_size;
    snap_.max_context = host_->max_context();
    snap_.kv_cache_dtype = host_->runtime().kv_cache_dtype;
    snap_.kv_bytes_per_token = host_->model().kv_bytes_per_token();
    snap_.load_s = host_->load_seconds();
  }
  tok_ = host_->tokenizer();
}

// --spec-decode draft: the draft model beside each target (rank 0 only); a draft whose
// vocabulary differs from the target's fails the load with the reason.
Status Engine::load_draft() {
  const SpecOptions& so = opts_.spec;
  if (so.mode != "draft" || draft_) return Status::ok();
  DraftModelConfig dc;
  dc.path = so.draft_model;
  dc.context_len = so.draft_context_len;
  dc.slots = std::max(so.max_seqs, 1) * 2;
  dc.threads = so.draft_threads;
  auto d = DraftModel::load(dc, *host_->tokenizer());
  if (!d) {
    host_->unload();
    return d.status();
  }
  draft_ = std::move(d.value());
  return Status::ok();
}

Status Engine::load_or_reset(const std::string& path) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    snap_.state = ModelState::loading;
    ++snap_.model_generation;
    snap_.model_path = path;
    snap_.model_name = std::filesystem::path(path).filename().string();
  }
  publish();
  Status st = host_->load(path);
  if (st) st = load_draft();
  step_cost_ = StepCost();  // another model, other row costs and acceptances
  spec_rate_all_ = 1.0;
  if (st) {
    set_loaded_view();
    ping();
    last_request_ = std::chrono::steady_clock::now();
    model_path_ = path;
  } else {
    LOG_ERROR("load failed: {}", st.message());
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    snap_.state = st ? ModelState::ready : ModelState::unloaded;
    if (!st) {
      snap_.last_error = st.message();
      // The remembered model stays the last good one: `/admin/load {}` must not retry a bad file.
      snap_.model_path = model_path_;
      snap_.model_name = std::filesystem::path(model_path_).filename().string();
    }
    snap_.load_attempted = true;
  }
  cv_.notify_all();
  publish();
  return st;
}

// Admin load: refuse a model that does not open before touching the one serving; if
// the load fails after the unload, load the last good model again.
LoadReply Engine::replace_model(const std::string& path) {
  LoadReply reply;
  if (Status pre = host_->check(path); !pre) {
    LOG_WARN("load of {} refused before unloading: {}", path, pre.message());
    {
      std::lock_guard<std::mutex> lk(mu_);
      snap_.last_error = pre.message();
    }
    publish();
    reply.outcome = LoadReply::refused;
    reply.message = pre.message();
    return reply;
  }
  const std::string previous = host_->loaded() ? model_path_ : std::string();
  if (host_->loaded()) unload_now();
  Status st = load_or_reset(path);
  if (st) {
    reply.outcome = LoadReply::loaded;
    reply.message = "loaded";
    return reply;
  }
  reply.message = st.message();
  if (!previous.empty() && previous != path) {
    LOG_WARN("loading the previous model {} again", previous);
    reply.previous_restored = load_or_reset(previous).is_ok();
    std::lock_guard<std::mutex> lk(mu_);
    snap_.last_error = st.message();  // the failure asked for, not the fallback's success
  }
  return reply;
}

void Engine::unload_now() {
  if (!host_->loaded() && model_state() == ModelState::unloaded) return;
  {
    std::lock_guard<std::mutex> lk(mu_);
    snap_.state = ModelState::unloading;
    ++snap_.model_generation;
  }
  publish();
  abort_all(ErrorKind::unavailable, "the model is being unloaded");
  host_->unload();
  draft_.reset();
  if (!reload_on_demand()) {  // on demand: keep the tokenizer, requests tokenize before the reload
    std::lock_guard<std::mutex> lk(mu_);
    tok_.reset();
  }
  trim_heap();
  {
    std::lock_guard<std::mutex> lk(mu_);
    snap_.state = ModelState::unloaded;
  }
  ping();
  publish();
  LOG_INFO("unloaded (rss {:.1f} MiB)", rss_bytes() / 1048576.0);
}

// At start: load now, or (lazy) only the tokenizer and the context length, so that
// requests can be tokenized and checked before the model is there.
void Engine::start_lifecycle() {
  const RuntimeConfig& rt = opts_.rt;
  if (rt.model_path.empty()) {
    ping();
  } else if (opts_.lazy_load) {
    auto tok = host_->tokenizer_for(rt);
    std::lock_guard<std::mutex> lk(mu_);
    if (!tok) {
      LOG_ERROR("tokenizer: {}", tok.message());
      snap_.last_error = tok.message();
    } else {
      tok_ = tok.value();
    }
    if (auto src = ModelSource::open(rt.model_path, rt.tokenizer_path)) {
      snap_.n_ctx = RuntimeConfig::resolve_n_ctx(rt.n_ctx, src.value()->hparams().n_ctx_train);
      snap_.max_context = snap_.n_ctx;  // the KV pool is sized for it (blocks × max_seqs)
    }
  } else {
    (void)load_or_reset(rt.model_path);
  }
  if (opts_.lazy_load) {
    ping();
    std::lock_guard<std::mutex> lk(mu_);
    snap_.load_attempted = true;
  }
  cv_.notify_all();
  publish();
}

// A request arrived: load first when the model comes on demand.
void Engine::load_on_demand() {
  if (host_->loaded() || !reload_on_demand() || model_path_.empty()) return;
  LOG_INFO("loading {} on demand", model_path_);
  (void)load_or_reset(model_path_);
}

void Engine::maybe_idle_unload() {
  if (opts_.idle_timeout_s <= 0 || !host_->loaded() || !reqs_.empty() || !host_->sched().idle()) return;
  const double idle = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_request_).count();
  if (idle < opts_.idle_timeout_s || model_state() != ModelState::ready) return;
  LOG_INFO("idle for {} s: unloading (the next request loads the model again)", opts_.idle_timeout_s);
  unload_now();
}

}  // namespace shardlm
