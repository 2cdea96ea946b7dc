// Step execution on one rank: apply the diff, build the batch, forward, reduce the rows.
#include "shardlm/cluster/step-executor.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "shardlm/cluster/comm.h"
#include "shardlm/cluster/rank-model.h"
#include "shardlm/model/forward.h"
#include "shardlm/protocol/wire.h"
#include "shardlm/sampling/allowed-tokens.h"
#include "shardlm/sampling/candidates.h"

namespace shardlm {

StepExecutor::StepExecutor(RankModel& model) : model_(model), dump_logits_prefix_(model.config().dump_logits_prefix) {}
StepExecutor::~StepExecutor() = default;

int StepExecutor::candidates_k() const { return model_.config().sample_candidates; }
size_t StepExecutor::record_bytes() const { return row_record_bytes(candidates_k()); }

// Offloads copy each block's bytes (every layer, K then V: the block file's payload)
// into the writer's queue before this step's forward may overwrite the block; restores
// read, check and copy a file into its block. A rank without a disk tier, or whose
// file is missing or bad, fails the restore; the allreduce tells every rank which
// restores failed anywhere, and rank 0 then recomputes those blocks.
Status StepExecutor::apply_kv_ops(const StepMsg& msg) {
  restore_ok_.clear();
  if (msg.kv_ops.empty()) return Status::ok();
  KvStorage& kv = model_.kv();
  KvDiskStore* disk = model_.disk();
  const int n_layer = kv.config().n_layer;
  const int n_blocks = model_.kv_blocks();
  std::vector<float> failed;
  for (const KvOp& op : msg.kv_ops) {
    const int32_t block = op.kind == KvOpKind::offload ? op.src : op.dst;
    if (block < 0 || block >= n_blocks) return Status::errorf("step {}: KV op block {} out of range", msg.step_id, block);
    if (static_cast<int>(op.tokens.size()) != model_.block_size())
      return Status::errorf("step {}: KV op names {} tokens for blocks of {}", msg.step_id, op.tokens.size(),
                            model_.block_size());
    const BlockKey key{op.hash, op.parent, op.tokens};
    if (op.kind == KvOpKind::offload) {
      if (!disk) continue;
      std::vector<uint8_t> payload(kv.block_bytes_all_layers());
      uint8_t* at = payload.data();
      for (int l = 0; l < n_layer; ++l) {
        const KvBlockBytes b = kv.block(l, block);
        std::memcpy(at, b.k, b.bytes);
        std::memcpy(at + b.bytes, b.v, b.bytes);
        at += 2 * b.bytes;
      }
      (void)disk->offload(key, std::move(payload));  // false: dropped (counted by the store)
      continue;
    }
    // restore
    block_buf_.resize(kv.block_bytes_all_layers());
    bool ok = disk && disk->restore(key, block_buf_.data());
    if (ok) {
      const uint8_t* at = block_buf_.data();
      for (int l = 0; l < n_layer; ++l) {
        const KvBlockBytes b = kv.block(l, block);
        std::memcpy(b.k, at, b.bytes);
        std::memcpy(b.v, at + b.bytes, b.bytes);
        at += 2 * b.bytes;
      }
    }
    failed.push_back(ok ? 0.f : 1.f);
  }
  if (failed.empty()) return Status::ok();
  if (Comm::size() > 1)
    Comm::allreduce_sum(failed.data(), static_cast<int64_t>(failed.size()), model_.config().collective_timeout_s,
                        "kv restore");
  for (float f : failed) restore_ok_.push_back(f == 0.f);
  return Status::ok();
}

// New sequences get their state; running ones their new blocks (every block table is
// complete before the batch takes pointers into them). Fills step_ in batch order.
Status StepExecutor::apply_diff(const StepMsg& msg) {
  SHARDLM_TRY(check_step_supported(msg));
  const int n_blocks = model_.kv_blocks();
  auto check_blocks = [&](const std::vector<int32_t>& ids) -> Status {
    for (auto id : ids)
      if (id < 0 || id >= n_blocks) return Status::errorf("step {}: block id {} out of range", msg.step_id, id);
    return Status::ok();
  };
  step_.clear();
  for (const auto& ns : msg.new_seqs) {
    if (seqs_.count(ns.seq_id)) return Status::errorf("step {}: sequence {} already exists", msg.step_id, ns.seq_id);
    SHARDLM_TRY(check_blocks(ns.block_table));
    RankSeq& s = seqs_[ns.seq_id];
    s.block_table = ns.block_table;
    s.n_computed = static_cast<int32_t>(ns.start_pos);
    s.n_prompt = static_cast<int32_t>(ns.n_prompt);
    s.n_top = ns.n_top;
    s.logprobs = ns.logprobs;
    s.sampling = ns.sampling;
    s.penalties = penalties_active(ns.sampling);
    if (s.penalties) {
      if (ns.history.size() != ns.start_pos)
        return Status::errorf("step {}: sequence {} uses penalties but sent {} history tokens for start {}", msg.step_id,
                              ns.seq_id, ns.history.size(), ns.start_pos);
      for (size_t i = 0; i < ns.history.size(); ++i) {
        if (static_cast<int32_t>(i) < s.n_prompt) s.counts.add_prompt(ns.history[i]);
        else s.counts.add(ns.history[i]);
      }
    }
    step_.push_back({ns.seq_id, &s, &ns.tokens, s.n_computed});
  }
  for (const auto& rs : msg.running) {
    auto it = seqs_.find(rs.seq_id);
    if (it == seqs_.end()) return Status::errorf("step {}: unknown sequence {}", msg.step_id, rs.seq_id);
    SHARDLM_TRY(check_blocks(rs.new_blocks));
    RankSeq& s = it->second;
    // Rejected speculative tokens of the previous step are forgotten (their KV is
    // overwritten); nothing else may be taken back.
    const int64_t back = static_cast<int64_t>(s.n_computed) - rs.start_pos;
    if (back < 0 || back > s.last_step_tokens || (back > 0 && s.penalties && rs.start_pos < static_cast<uint32_t>(s.n_prompt)))
      return Status::errorf("step {}: sequence {} starts at position {} but this rank has computed {} ({} in the last step)",
                            msg.step_id, rs.seq_id, rs.start_pos, s.n_computed, s.last_step_tokens);
    // With penalties the forgotten tokens leave the counts (they were generated tokens).
    if (s.penalties)
      for (int64_t i = 0; i < back; ++i) s.counts.remove(s.last_tokens[s.last_tokens.size() - 1 - static_cast<size_t>(i)]);
    s.n_computed = static_cast<int32_t>(rs.start_pos);
    s.block_table.insert(s.block_table.end(), rs.new_blocks.begin(), rs.new_blocks.end());
    step_.push_back({rs.seq_id, &s, &rs.tokens, s.n_computed});
  }
  return Status::ok();
}

// Every row names a sequence of this step and one of the positions it computes now.
Status StepExecutor::check_rows(const StepMsg& msg) {
  std::unordered_map<uint64_t, size_t> at;
  at.reserve(step_.size());
  for (size_t i = 0; i < step_.size(); ++i)
    if (!at.emplace(step_[i].id, i).second)
      return Status::errorf("step {}: sequence {} appears twice", msg.step_id, step_[i].id);
  row_seq_.clear();
  std::set<std::pair<uint64_t, uint32_t>> seen;
  for (size_t r = 0; r < msg.rows.size(); ++r) {
    const LogitRow& row = msg.rows[r];
    auto it = at.find(row.seq_id);
    if (it == at.end())
      return Status::errorf("step {}: row {} names sequence {}, which computes no tokens in this step", msg.step_id, r,
                            row.seq_id);
    StepSeq& x = step_[it->second];
    const int64_t first = x.first_pos, n = static_cast<int64_t>(x.tokens->size());
    if (row.pos < first || row.pos >= first + n)
      return Status::errorf("step {}: row {} asks for position {} of sequence {}, which computes positions [{}, {}) now",
                            msg.step_id, r, row.pos, row.seq_id, first, first + n);
    if (!seen.emplace(row.seq_id, row.pos).second)
      return Status::errorf("step {}: row {} repeats sequence {} position {}", msg.step_id, r, row.seq_id, row.pos);
    if (row.pos != first + n - 1 && x.seq->penalties) x.early_row = true;
    row_seq_.push_back(it->second);
  }
  // Masks cover the whole vocabulary (decode_step checked their rows).
  const size_t words = allowed_mask_words(model_.hparams().n_vocab);
  row_mask_.assign(msg.rows.size(), nullptr);
  for (const RowMask& m : msg.masks) {
    if (m.row >= msg.rows.size() || m.bits.size() != words)
      return Status::errorf("step {}: mask for row {} has {} words; the table has {} rows and the vocabulary needs {}",
                            msg.step_id, m.row, m.bits.size(), msg.rows.size(), words);
    row_mask_[m.row] = m.bits.data();
  }
  return Status::ok();
}

// The batch: every token of step_ in order, then the logit rows as batch indices.
Status StepExecutor::build_batch(const StepMsg& msg, ForwardBatch& b) {
  const int bs = model_.block_size();
  const int32_t n_vocab = model_.hparams().n_vocab;
  for (StepSeq& x : step_) {
    RankSeq& s = *x.seq;
    const std::vector<int32_t>& toks = *x.tokens;
    if (s.n_computed + static_cast<int64_t>(toks.size()) > static_cast<int64_t>(s.block_table.size()) * bs)
      return Status::errorf("step {}: sequence {} needs more KV blocks than it was given", msg.step_id, x.id);
    if (s.n_computed + static_cast<int64_t>(toks.size()) > model_.n_ctx())
      return Status::errorf("step {}: sequence {} goes beyond the context of {}", msg.step_id, x.id, model_.n_ctx());
    if (x.early_row) x.counts_before = s.counts;
    x.batch_off = static_cast<int32_t>(b.tokens.size());
    for (size_t i = 0; i < toks.size(); ++i) {
      if (toks[i] < 0 || toks[i] >= n_vocab) return Status::errorf("step {}: token id {} out of range", msg.step_id, toks[i]);
      const int32_t pos = s.n_computed + static_cast<int32_t>(i);
      b.tokens.push_back(toks[i]);
      b.pos.push_back(pos);
      b.block_table.push_back(s.block_table.data());
      if (s.penalties) {
        if (pos < s.n_prompt) s.counts.add_prompt(toks[i]);
        else s.counts.add(toks[i]);
      }
    }
    s.n_computed += static_cast<int32_t>(toks.size());
    s.last_step_tokens = static_cast<int32_t>(toks.size());
    if (s.penalties) s.last_tokens = toks;
  }
  for (size_t r = 0; r < msg.rows.size(); ++r) {
    const StepSeq& x = step_[row_seq_[r]];
    b.logit_rows.push_back(x.batch_off + static_cast<int32_t>(msg.rows[r].pos) - x.first_pos);
  }
  return Status::ok();
}

// Row r's logits (logits_ row r) → penalties → candidates → one row record.
void StepExecutor::reduce_rows(const StepMsg& msg, std::vector<uint8_t>& records) {
  const ShardPlan& p = model_.plan();
  const auto v0 = static_cast<int32_t>(p.vocab.begin), nv = static_cast<int32_t>(p.vocab.size());
  const int K = candidates_k();
  records.reserve(msg.rows.size() * record_bytes());
  TokenCounts partial;
  for (size_t r = 0; r < msg.rows.size(); ++r) {
    const LogitRow& row = msg.rows[r];
    const StepSeq& x = step_[row_seq_[r]];
    const RankSeq& s = *x.seq;
    const auto pos = static_cast<int32_t>(row.pos);
    float* lg = logits_.data() + r * static_cast<size_t>(nv);
    if (s.penalties) {
      const TokenCounts* counts = &s.counts;
      if (pos != x.first_pos + static_cast<int32_t>(x.tokens->size()) - 1) {  // counts up to pos only
        partial = *x.counts_before;
        for (int32_t q = x.first_pos; q <= pos; ++q) {
          const int32_t t = (*x.tokens)[static_cast<size_t>(q - x.first_pos)];
          if (q < s.n_prompt) partial.add_prompt(t);
          else partial.add(t);
        }
        counts = &partial;
      }
      apply_penalties(lg, v0, nv, *counts, s.sampling);
    }
    // A constrained row: only the grammar's tokens take part (this rank's slice of the mask).
    if (row_mask_[r]) apply_allowed_mask(lg, v0, nv, row_mask_[r]);
    const Candidates c = reduce_slice(lg, v0, nv, s.sampling, 0, static_cast<uint64_t>(pos) + 1, K, s.n_top, &row.probe,
                                      s.logprobs || s.n_top > 0);
    RowRecordHeader h;
    h.row = static_cast<uint32_t>(r);
    h.n_rows = static_cast<uint32_t>(msg.rows.size());
    h.pos = row.pos;
    h.step_id = msg.step_id;
    h.seq_id = row.seq_id;
    encode_row_record(h, c, K, records);
  }
}

// --dump-logits PREFIX: the first row's logits of this rank's slice, once, to
// PREFIX.rankR.bin (i32 vocab_begin, i32 n_vocab_local, then f32 × n_vocab_local).
void StepExecutor::dump_logits_once() {
  if (dump_logits_prefix_.empty() || dumped_) return;
  dumped_ = true;
  const ShardPlan& p = model_.plan();
  const int64_t nv = p.vocab.size();
  std::string path = fmt::format("{}.rank{}.bin", dump_logits_prefix_, Comm::rank());
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    int32_t hdr[2] = {static_cast<int32_t>(p.vocab.begin), static_cast<int32_t>(nv)};
    std::fwrite(hdr, sizeof hdr, 1, f);
    std::fwrite(logits_.data(), sizeof(float), static_cast<size_t>(nv), f);
    std::fclose(f);
  }
}

Status StepExecutor::execute(const StepMsg& msg, std::vector<uint8_t>& records) {
  records.clear();
  SHARDLM_TRY(check_step_supported(msg));
  SHARDLM_TRY(apply_kv_ops(msg));
  SHARDLM_TRY(apply_diff(msg));
  SHARDLM_TRY(check_rows(msg));
  ForwardBatch b;
  SHARDLM_TRY(build_batch(msg, b));
  if (b.size() > 0) {
    model_.forward().run(b, logits_);
    // Test aids (faults during prefill / decode): a step with more tokens than logit rows
    // carries prompt tokens.
    const bool prompt = b.size() > static_cast<int64_t>(msg.rows.size());
    const int delay_ms = prompt ? model_.config().prefill_delay_ms : model_.config().decode_delay_ms;
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (!msg.rows.empty()) {
      dump_logits_once();
      reduce_rows(msg, records);
    }
  }
  step_.clear();
  for (auto id : msg.finished) seqs_.erase(id);
  return Status::ok();
}

}  // namespace shardlm
