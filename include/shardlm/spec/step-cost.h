// What a row costs in a decode step, measured: an exponentially weighted least-squares
// fit of step seconds = fixed + per_row × rows over recent decode-only steps (rows =
// the sequences' last tokens plus their draft tokens; prompt chunks are left out, their
// rows cost differently). Speculation uses it to decide whether a proposal can pay: a
// draft token adds a row, and pays only when the chance it is accepted exceeds the
// share of the step that per-row work takes (see row_share()). On a model whose step is
// bound by reading the weights the share is small and even rare acceptances pay; on a
// small model whose steps are per-row overhead it is large. Engine thread.
#pragma once

namespace shardlm {

class StepCost {
 public:
  // weight: the share of a new observation (1/weight steps of memory).
  explicit StepCost(double weight = 0.02) : w_(weight) {}

  void observe(int rows, double seconds);
  // Whether the steps seen vary enough in rows to separate the fixed from the per-row part.
  bool known() const;
  // The last known fit (0 before any).
  double fixed_s() const;
  double per_row_s() const;
  // For a step of `seqs` decoding sequences: per_row × seqs / (fixed + per_row × seqs),
  // in [0, 1]; the acceptance rate a draft token needs before it gains throughput.
  // From the last fit that was known when the rows stop varying; 0 before any.
  double row_share(int seqs) const;

 private:
  double w_;
  int n_ = 0;
  double mx_ = 0, my_ = 0, vxx_ = 0, vxy_ = 0;  // weighted means, variance of rows, covariance
  double last_fixed_ = -1, last_per_row_ = 0;    // the last known fit (-1: none yet)
};

}  // namespace shardlm
