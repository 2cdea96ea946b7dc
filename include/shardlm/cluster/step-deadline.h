// The deadline of a step's collectives, derived from the measured step time (issue 19
// point 3): a dead or cut-off host is found in seconds on a fast model, and a slow
// first step on a huge model is not mistaken for one.
//
//   fixed   (RuntimeConfig::collective_timeout_k == 0: SHARDLM_COLLECTIVE_TIMEOUT or
//           --collective-timeout-s given): collective_timeout_s for every step;
//   derived (default): collective_timeout_s until kMinSteps steps are measured, then
//           max(k × p99(seconds per token of the last kWindow steps) × tokens of the
//           step, collective_timeout_floor_s).
// Every rank keeps its own (each measures the steps it executes): no wire field. Not
// thread-safe: the rank's step thread only (rank 0's engine thread, a worker loop).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "shardlm/cluster/runtime-config.h"
#include "shardlm/protocol/step-msg.h"

namespace shardlm {

class StepDeadline {
 public:
  static constexpr int kMinSteps = 16;   // steps measured before the derived deadline applies
  static constexpr int kWindow = 512;    // steps the p99 is taken over (the latest)

  explicit StepDeadline(const RuntimeConfig& rt);
  // Seconds each collective of a step of n_tokens tokens may wait.
  double timeout_s(int64_t n_tokens) const;
  // A completed step of n_tokens tokens took step_s seconds.
  void observe(double step_s, int64_t n_tokens);
  bool derived() const { return k_ > 0; }
  int64_t steps_observed() const { return n_; }
  double p99_s_per_token() const;  // 0 until a step is measured
  // "derived: max(20 × p99 step time per token × tokens, 10 s); 300 s until 16 steps"
  // or "fixed: 12 s" (logged at load, shown in /admin/status).
  std::string rule() const;

 private:
  double fixed_s_, k_, floor_s_;
  std::vector<double> per_token_;  // ring of the latest kWindow steps
  int64_t n_ = 0;
};

// Tokens a step computes on every rank (new and running sequences, drafts included).
int64_t step_tokens(const StepMsg& m);

}  // namespace shardlm
