#include "shardlm/cluster/step-deadline.h"

#include <algorithm>
#include <cmath>

#include "shardlm/core/log.h"

namespace shardlm {

StepDeadline::StepDeadline(const RuntimeConfig& rt)
    : fixed_s_(rt.collective_timeout_s), k_(rt.collective_timeout_k), floor_s_(rt.collective_timeout_floor_s) {
  per_token_.reserve(kWindow);
}

double StepDeadline::p99_s_per_token() const {
  if (per_token_.empty()) return 0;
  std::vector<double> v = per_token_;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(std::ceil(0.99 * static_cast<double>(v.size()))) - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

double StepDeadline::timeout_s(int64_t n_tokens) const {
  if (k_ <= 0 || n_ < kMinSteps) return fixed_s_;
  return std::max(floor_s_, k_ * p99_s_per_token() * static_cast<double>(std::max<int64_t>(1, n_tokens)));
}

void StepDeadline::observe(double step_s, int64_t n_tokens) {
  const double v = step_s / static_cast<double>(std::max<int64_t>(1, n_tokens));
  if (static_cast<int>(per_token_.size()) < kWindow) per_token_.push_back(v);
  else per_token_[static_cast<size_t>(n_ % kWindow)] = v;
  ++n_;
}

std::string StepDeadline::rule() const {
  if (k_ <= 0) return fmt::format("fixed: {:g} s", fixed_s_);
  return fmt::format("derived: max({:g} x p99 step time per token x tokens, {:g} s); {:g} s until {} steps are measured",
                     k_, floor_s_, fixed_s_, kMinSteps);
}

int64_t step_tokens(const StepMsg& m) {
  int64_t n = 0;
  for (const auto& s : m.new_seqs) n += static_cast<int64_t>(s.tokens.size());
  for (const auto& s : m.running) n += static_cast<int64_t>(s.tokens.size());
  return n;
}

}  // namespace shardlm
