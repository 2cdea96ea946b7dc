// Loading one rank's slice of a model (memory guard, per-layer agreement).
#include "shardlm/cluster/rank-model.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "shardlm/core/log.h"
#include "shardlm/core/memory.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/kernels/quant.h"
#include "shardlm/kv/block-pool.h"

namespace shardlm {

namespace {

class MpiAllReduce : public AllReduce {
 public:
  explicit MpiAllReduce(double timeout_s) : timeout_s_(timeout_s) {}
  void sum(float* data, int64_t n) override { Comm::allreduce_sum(data, n, timeout_s_, "allreduce"); }
  void set_timeout(double s) { timeout_s_ = s; }

 private:
  double timeout_s_;
};

// All ranks agree whether a phase succeeded; the deadline is the eval timeout.
Status agree(const Status& local, double timeout_s, const std::string& phase) {
  const std::string what = "eval_with_timeout|" + phase;
  int all = Comm::allreduce_min(local.is_ok() ? 1 : 0, timeout_s, what.c_str(), "eval_timeout");
  if (!local.is_ok()) return local;
  if (!all) return Status::errorf("another rank failed during {} (see its log)", phase);
  return Status::ok();
}

// The deadline of the load's agreements (issue 19 point 3, as StepDeadline is for
// steps): eval_timeout_s until a layer has loaded, then max(load_timeout_floor_s, k × the
// slowest layer so far), at most eval_timeout_s, with k = collective_timeout_k; fixed at
// eval_timeout_s when the collective deadline is fixed (k = 0). Every rank loads the same
// share of each layer, so a rank that misses k times its own slowest layer is frozen,
// cut off or dead: found in seconds, not after 300 s.
class LoadDeadline {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LoadDeadline(const RuntimeConfig& c)
      : cap_(c.eval_timeout_s), k_(c.collective_timeout_k), floor_(c.load_timeout_floor_s), last_(Clock::now()) {}
  // Seconds the agreement about to start may wait; layer_loaded: since the last
  // agreement this rank loaded a layer (the time is measured).
  double next(bool layer_loaded) {
    if (layer_loaded) slowest_ = std::max(slowest_, std::chrono::duration<double>(Clock::now() - last_).count());
    if (k_ <= 0 || slowest_ <= 0) return cap_;
    return std::min(cap_, std::max(floor_, k_ * slowest_));
  }
  void agreed() { last_ = Clock::now(); }
  std::string rule() const {
    if (k_ <= 0) return fmt::format("fixed: {:g} s", cap_);
    return fmt::format("derived: max({:g} × slowest layer, {:g} s), at most {:g} s", k_, floor_, cap_);
  }

 private:
  double cap_, k_, floor_;
  double slowest_ = 0;
  Clock::time_point last_;
};

int default_threads() {
  unsigned hc = std::thread::hardware_concurrency();
  // Ranks sharing a node split its cores.
  return std::max(1, static_cast<int>(hc) / std::max(1, Comm::local_size()));
}

}  // namespace

RankModel::~RankModel() = default;

double RankModel::begin_step(const StepMsg& m) {
  const double t = deadline_->timeout_s(step_tokens(m));
  if (auto* mpi = dynamic_cast<MpiAllReduce*>(ar_.get())) mpi->set_timeout(t);
  return t;
}

Result<std::unique_ptr<RankModel>> load_rank_model(const RuntimeConfig& cfg) {
  const auto t0 = std::chrono::steady_clock::now();
  const int rank = Comm::rank(), world = Comm::size();
  std::unique_ptr<RankModel> m(new RankModel());
  m->cfg_ = cfg;
  set_matmul_batch_invariant(cfg.batch_invariant);  // kernels/matmul.h: the batch-invariance rule

  auto src = ModelSource::open(cfg.model_path, cfg.tokenizer_path);
  SHARDLM_TRY(agree(src.status(), cfg.eval_timeout_s, "open model"));
  m->src_ = std::move(src.value());
  const HParams& h = m->src_->hparams();
  if (rank == 0) LOG_INFO("model {} ({}): {}", cfg.model_path, m->src_->format(), h.summary());

  std::optional<DType> weight_dtype;
  if (!cfg.weight_dtype.empty()) {
    weight_dtype = dtype_from_name(cfg.weight_dtype);
    if (!weight_dtype || !can_quantize(*weight_dtype))
      return Status::errorf("--weight-dtype '{}' is not a type this build can quantize to", cfg.weight_dtype);
  }
  auto plan = make_shard_plan(h, rank, world, ff_split_unit(*m->src_, weight_dtype));
  SHARDLM_TRY(agree(plan.status(), cfg.eval_timeout_s, "shard plan"));
  LOG_INFO("shard plan {}", plan->describe());

  const double guard = cfg.memory_guard_gb * 1073741824.0;
  LoadDeadline deadline(cfg);
  if (rank == 0) LOG_INFO("load deadline per layer: {}", deadline.rule());
  bool agreed_failure = false;  // a hook's agreement already told every rank
  LoadHooks hooks;
  // what: "layer 3" or "KV cache"; need: bytes about to be allocated.
  auto memory_check = [&](const std::string& what, uint64_t need) -> Status {
    Status st;
    const uint64_t avail = available_bytes();
    if (guard > 0 && static_cast<double>(avail) - static_cast<double>(need) < guard) {
      st = Status::errorf(
          "MemoryGuardError: rank {} {}: available {:.2f} GiB, needed {:.3f} GiB, guard {:.2f} GiB "
          "(SHARDLM_MEMORY_GUARD_GB)",
          rank, what, avail / 1073741824.0, need / 1073741824.0, cfg.memory_guard_gb);
      LOG_ERROR("{}", st.message());
    }
    Status a = agree(st, deadline.next(false), fmt::format("memory check before {}", what));
    deadline.agreed();
    agreed_failure = !a.is_ok();
    return a;
  };
  hooks.before_layer = [&](int layer, uint64_t need) -> Status { return memory_check(fmt::format("layer {}", layer), need); };
  hooks.after_layer = [&](int layer) -> Status {
    if (cfg.load_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(cfg.load_delay_ms));
    if (layer >= 0 && (rank == 0 || h.n_layer <= 64))
      LOG_INFO("loaded layer {}/{} (rss {:.1f} MiB)", layer + 1, h.n_layer, rss_bytes() / 1048576.0);
    Status a = agree(Status::ok(), deadline.next(layer >= 0), fmt::format("layer {}", layer));
    deadline.agreed();
    agreed_failure = !a.is_ok();
    return a;
  };
  LoadOptions lopt;
  lopt.weight_dtype = weight_dtype;
  lopt.pack_panels = cfg.pack_weights;
  auto w = load_weights(*m->src_, plan.value(), hooks, lopt);
  if (!w) {
    // A rank that failed on its own still meets the others at the agreement they
    // wait in (the same collective: every rank passed the same hooks so far).
    if (!agreed_failure) (void)agree(w.status(), deadline.next(false), "load");
    return w.status();
  }
  m->weights_ = std::move(w.value());

  m->n_ctx_ = RuntimeConfig::resolve_n_ctx(cfg.n_ctx, h.n_ctx_train);
  KvConfig kc;
  kc.n_layer = h.n_layer;
  kc.block_size = cfg.block_size;
  kc.n_blocks = cfg.kv_blocks > 0 ? cfg.kv_blocks : blocks_for(m->n_ctx_, cfg.block_size) * cfg.max_seqs;
  kc.n_kv_local = static_cast<int>(plan->kv_heads.size());
  kc.head_dim = h.head_dim;
  kc.dtype = DType::F16;
  if (!kv_dtype_from_name(cfg.kv_cache_dtype.c_str(), &kc.dtype))
    return Status::errorf("kv_cache_dtype '{}' is not f32, f16, bf16, fp8_e4m3 or int8", cfg.kv_cache_dtype);
  // K and V: 2 × layers × blocks × block bytes (elements, plus scales when quantized).
  SHARDLM_TRY(memory_check("KV cache", KvStorage::pool_bytes(kc)));
  m->kv_ = std::make_unique<KvStorage>(kc);
  const int threads = cfg.threads > 0 ? cfg.threads : default_threads();
  m->pool_ = std::make_unique<ThreadPool>(threads);
  if (world > 1)
    m->ar_ = std::make_unique<MpiAllReduce>(cfg.collective_timeout_s);
  else
    m->ar_ = std::make_unique<NoAllReduce>();
  m->fwd_ = std::make_unique<Forward>(*m->weights_, *m->kv_, *m->pool_, *m->ar_);
  m->deadline_ = std::make_unique<StepDeadline>(cfg);
  if (rank == 0 && world > 1) LOG_INFO("collective deadline {}", m->deadline_->rule());
  if (cfg.kv_tier == "cpu_disk") {
    KvDiskOptions d;
    d.dir = cfg.kv_disk_dir;
    d.budget_bytes = static_cast<uint64_t>(cfg.kv_disk_gb * 1073741824.0);
    d.queue_blocks = cfg.kv_disk_queue_blocks;
    d.events = rank == 0;
    KvDiskLayout l;
    l.fingerprint = model_fingerprint(cfg.model_path, cfg.weight_dtype);
    l.tp = static_cast<uint32_t>(world);
    l.rank = static_cast<uint32_t>(rank);
    l.dtype = static_cast<uint32_t>(kc.dtype);
    l.block_size = static_cast<uint32_t>(kc.block_size);
    l.n_layer = static_cast<uint32_t>(kc.n_layer);
    l.n_kv_local = static_cast<uint32_t>(kc.n_kv_local);
    l.head_dim = static_cast<uint32_t>(kc.head_dim);
    m->disk_ = std::make_unique<KvDiskStore>(d, l, m->kv_->block_bytes_all_layers());
  }
  m->load_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t per_tok = KvStorage::bytes_per_token(kc);
  const int64_t cap_tok = static_cast<int64_t>(kc.n_blocks) * kc.block_size;
  LOG_INFO("loaded in {:.2f} s: weights {:.1f} MiB, KV {} blocks ({:.1f} MiB, {}, {} B/token on this rank: {} tokens = {} "
           "sequences of {}), {} threads, rss {:.1f} MiB",
           m->load_s_, m->weights_->bytes() / 1048576.0, kc.n_blocks, m->kv_->bytes() / 1048576.0, cfg.kv_cache_dtype,
           per_tok, cap_tok, cap_tok / std::max(1, m->n_ctx_), m->n_ctx_, threads, rss_bytes() / 1048576.0);
  m->src_.reset();  // weights are copied out; drop the mapping
  return m;
}

}  // namespace shardlm
