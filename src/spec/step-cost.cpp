// StepCost: the running fit (see step-cost.h).
#include "shardlm/spec/step-cost.h"

#include <algorithm>

namespace shardlm {

void StepCost::observe(int rows, double seconds) {
  if (rows <= 0 || !(seconds >= 0)) return;
  const double x = rows, y = seconds;
  if (n_++ == 0) {
    mx_ = x;
    my_ = y;
    return;
  }
  // West's weighted update with a constant weight (exponential forgetting).
  const double dx = x - mx_, dy = y - my_;
  mx_ += w_ * dx;
  my_ += w_ * dy;
  vxx_ = (1 - w_) * (vxx_ + w_ * dx * dx);
  vxy_ = (1 - w_) * (vxy_ + w_ * dx * dy);
  if (known()) {
    last_per_row_ = std::max(0.0, vxy_ / vxx_);
    last_fixed_ = std::max(0.0, my_ - last_per_row_ * mx_);
  }
}

// The rows must vary: a standard deviation of ~0.15 rows is one extra row in one step
// of 50, what probing proposals alone give.
bool StepCost::known() const { return n_ >= 16 && vxx_ >= 0.02; }

double StepCost::per_row_s() const { return last_per_row_; }

double StepCost::fixed_s() const { return std::max(0.0, last_fixed_); }

double StepCost::row_share(int seqs) const {
  if (last_fixed_ < 0 || seqs <= 0) return 0;
  const double rows = last_per_row_ * seqs, all = last_fixed_ + rows;
  return all > 0 ? std::clamp(rows / all, 0.0, 1.0) : 0.0;
}

}  // namespace shardlm
