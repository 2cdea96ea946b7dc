#include "shardlm/spec/draft-model.h"

#include <algorithm>
#include <chrono>

#include "shardlm/core/log.h"
#include "shardlm/core/thread-pool.h"
#include "shardlm/kv/kv-storage.h"
#include "shardlm/model/forward.h"
#include "shardlm/model/model-source.h"
#include "shardlm/model/shard-plan.h"
#include "shardlm/model/weights.h"
#include "shardlm/tokenizer/tokenizer.h"

namespace shardlm {

namespace {

constexpr size_t kChunk = 256;  // catch-up tokens per forward

int32_t argmax(const float* x, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

}  // namespace

std::string vocabulary_difference(const Tokenizer& a, const Tokenizer& b) {
  if (a.n_vocab() != b.n_vocab()) return fmt::format("{} tokens against {}", a.n_vocab(), b.n_vocab());
  if (a.bos_id() != b.bos_id()) return fmt::format("BOS id {} against {}", a.bos_id(), b.bos_id());
  if (a.eos_ids() != b.eos_ids()) return "other end-of-generation ids";
  for (int32_t i = 0; i < a.n_vocab(); ++i)
    if (a.token_piece(i) != b.token_piece(i))
      return fmt::format("token {} is '{}' against '{}'", i, a.token_piece(i), b.token_piece(i));
  return "";
}

DraftModel::~DraftModel() = default;

uint64_t DraftModel::weight_bytes() const { return weights_ ? weights_->bytes() : 0; }

Result<std::unique_ptr<DraftModel>> DraftModel::load(const DraftModelConfig& cfg, const Tokenizer& target) {
  const std::string what = "--draft-model " + cfg.path;
  auto src = ModelSource::open(cfg.path);
  if (!src) return Status::errorf("{}: {}", what, src.message());
  auto tok = load_tokenizer(src.value()->tokenizer_path());
  if (!tok) return Status::errorf("{}: its tokenizer: {}", what, tok.message());
  if (std::string d = vocabulary_difference(*tok.value(), target); !d.empty())
    return Status::errorf("{}: its vocabulary is not the target's ({}); a draft must share the target's tokens", what, d);
  const HParams& h = src.value()->hparams();
  auto plan = make_shard_plan(h, 0, 1, ff_split_unit(*src.value()));
  if (!plan) return Status::errorf("{}: {}", what, plan.message());
  auto w = load_weights(*src.value(), plan.value(), LoadHooks{});
  if (!w) return Status::errorf("{}: {}", what, w.message());
  std::unique_ptr<DraftModel> m(new DraftModel());
  m->weights_ = std::move(w.value());
  m->n_vocab_ = h.n_vocab;
  m->block_size_ = std::max(1, cfg.block_size);
  m->ctx_ = cfg.context_len > 0 ? std::min(cfg.context_len, h.n_ctx_train) : std::min(h.n_ctx_train, 4096);
  const int per_slot = (m->ctx_ + m->block_size_ - 1) / m->block_size_;
  const int n_slots = std::max(1, cfg.slots);
  KvConfig kc;
  kc.n_layer = h.n_layer;
  kc.block_size = m->block_size_;
  kc.n_blocks = per_slot * n_slots;
  kc.n_kv_local = static_cast<int>(plan->kv_heads.size());
  kc.head_dim = h.head_dim;
  kc.dtype = DType::F16;
  m->kv_ = std::make_unique<KvStorage>(kc);
  m->slots_.resize(static_cast<size_t>(n_slots));
  for (int s = 0; s < n_slots; ++s) {
    for (int b = 0; b < per_slot; ++b) m->slots_[static_cast<size_t>(s)].blocks.push_back(s * per_slot + b);
    m->lru_.push_back(static_cast<size_t>(s));
  }
  const int threads = std::max(1, cfg.threads);
  m->pool_ = std::make_unique<ThreadPool>(threads);
  m->ar_ = std::make_unique<NoAllReduce>();
  m->fwd_ = std::make_unique<Forward>(*m->weights_, *m->kv_, *m->pool_, *m->ar_);
  LOG_INFO("draft model {}: {}; on rank 0, {:.1f} MiB, context {} per sequence, {} sequences, KV {:.1f} MiB", cfg.path,
           h.summary(), m->weights_->bytes() / 1048576.0, m->ctx_, n_slots, m->kv_->bytes() / 1048576.0);
  return m;
}

DraftModel::Slot& DraftModel::slot_for(uint64_t id) {
  size_t idx;
  if (auto it = by_id_.find(id); it != by_id_.end()) {
    idx = it->second;
  } else {
    idx = lru_.back();  // a free slot, or the least recently used sequence's
    if (slots_[idx].owner != 0) by_id_.erase(slots_[idx].owner);
    slots_[idx].owner = id;
    slots_[idx].tokens.clear();
    by_id_[id] = idx;
  }
  lru_.remove(idx);
  lru_.push_front(idx);
  return slots_[idx];
}

void DraftModel::extend(Slot& s, const std::vector<int32_t>& toks, size_t from) {
  s.tokens.resize(from);
  for (size_t at = from; at < toks.size(); at += kChunk) {
    const size_t end = std::min(toks.size(), at + kChunk);
    ForwardBatch b;
    for (size_t p = at; p < end; ++p) {
      b.tokens.push_back(toks[p]);
      b.pos.push_back(static_cast<int32_t>(p));
      b.block_table.push_back(s.blocks.data());
    }
    b.logit_rows.push_back(static_cast<int32_t>(end - at - 1));
    fwd_->run(b, logits_);  // f32 [1, n_vocab]
    s.tokens.insert(s.tokens.end(), toks.begin() + static_cast<std::ptrdiff_t>(at), toks.begin() + static_cast<std::ptrdiff_t>(end));
  }
}

int32_t DraftModel::choose(const SamplingParams& sp, size_t pos, std::vector<TokenProbs>* q) {
  if (!q || sp.mode() == SamplingMode::greedy) return argmax(logits_.data(), n_vocab_);
  TokenProbs dist = proposal_distribution(logits_.data(), n_vocab_, sp, Candidates::kMaxProbe);
  // The row verifying position pos has the RNG counter pos (its own position + 1).
  const int32_t tok = sample_proposal(dist, sp, 0, static_cast<uint64_t>(pos));
  if (tok >= 0) q->push_back(std::move(dist));
  return tok;
}

std::vector<int32_t> DraftModel::propose(uint64_t id, const std::vector<int32_t>& tokens, int k, const SamplingParams& sp,
                                         std::vector<TokenProbs>* q) {
  std::vector<int32_t> out;
  if (q) q->clear();
  if (k <= 0 || tokens.empty() || tokens.size() + static_cast<size_t>(k) > static_cast<size_t>(ctx_)) return out;
  const auto t0 = std::chrono::steady_clock::now();
  Slot& s = slot_for(id);
  // Positions whose tokens still match: the rest (rejected proposals) is computed again.
  size_t keep = 0;
  const size_t n = std::min(s.tokens.size(), tokens.size() - 1);  // the last token is always computed now
  while (keep < n && s.tokens[keep] == tokens[keep]) ++keep;
  extend(s, tokens, keep);
  std::vector<int32_t> seq = tokens;
  for (int i = 0; i < k; ++i) {
    const int32_t next = choose(sp, seq.size(), q);
    if (next < 0) break;
    out.push_back(next);
    if (i + 1 == k) break;
    seq.push_back(next);
    extend(s, seq, seq.size() - 1);
  }
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

void DraftModel::forget(uint64_t id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  const size_t idx = it->second;
  slots_[idx].owner = 0;
  slots_[idx].tokens.clear();
  by_id_.erase(it);
  lru_.remove(idx);
  lru_.push_back(idx);
}

}  // namespace shardlm
