#include "shardlm/sampling/penalties.h"

namespace shardlm {

TokenCounts::Entry& TokenCounts::entry(int32_t tok) {
  auto [it, added] = index_.try_emplace(tok, static_cast<uint32_t>(entries_.size()));
  if (added) entries_.push_back(Entry{tok, 0, false});
  return entries_[it->second];
}

void TokenCounts::add_prompt(int32_t tok) {
  if (tok >= 0) entry(tok).in_prompt = true;
}

void TokenCounts::add(int32_t tok) {
  if (tok < 0) return;
  ++entry(tok).generated;
  ++n_generated_;
}

void TokenCounts::remove(int32_t tok) {
  auto it = index_.find(tok);
  if (it == index_.end() || entries_[it->second].generated == 0) return;
  --entries_[it->second].generated;
  --n_generated_;
}

void TokenCounts::clear() {
  entries_.clear();
  index_.clear();
  n_generated_ = 0;
}

uint32_t TokenCounts::generated(int32_t tok) const {
  auto it = index_.find(tok);
  return it == index_.end() ? 0 : entries_[it->second].generated;
}

bool TokenCounts::in_prompt(int32_t tok) const {
  auto it = index_.find(tok);
  return it != index_.end() && entries_[it->second].in_prompt;
}

bool penalties_active(const SamplingParams& p) {
  return p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
}

void apply_penalties(float* logits_slice, int32_t vocab_begin, int32_t n, const TokenCounts& counts,
                     const SamplingParams& p) {
  if (n <= 0 || !penalties_active(p)) return;
  const float rep = p.repetition_penalty;
  const double pres = p.presence_penalty;
  const double freq = p.frequency_penalty;
  for (const TokenCounts::Entry& e : counts.entries()) {
    const int64_t i = static_cast<int64_t>(e.token) - vocab_begin;
    if (i < 0 || i >= n) continue;  // another rank's slice
    if (!e.in_prompt && e.generated == 0) continue;  // taken back (remove)
    float& l = logits_slice[i];
    if (rep != 1.0f) l = l > 0.0f ? l / rep : l * rep;  // every token of prompt or output
    if (e.generated > 0 && (pres != 0.0 || freq != 0.0))
      l = static_cast<float>(static_cast<double>(l) - (freq * static_cast<double>(e.generated) + pres));
  }
}

}  // namespace shardlm
