// Exact speculative sampling (sampling/spec-verify.h): over a fixed set of seeds, the
// tokens that verification delivers (accepted proposals and residual draws) follow the
// target distribution, computed here independently from the full logits (softmax of
// logit / T, then top_k, min_p, top_p as sampling-params.h defines them). The logits
// are split into uneven vocabulary slices as ranks hold them; the records go through
// serialize/deserialize as on the wire. Chi-square statistics with a fixed seed set are
// deterministic; the threshold sits far in the tail (about 8 standard deviations) and a
// wrong sampler (always accepting, or accepting with q) lands far beyond it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <vector>

#include "shardlm/sampling/candidates.h"
#include "shardlm/sampling/merge.h"
#include "shardlm/sampling/penalties.h"
#include "shardlm/sampling/spec-verify.h"

namespace shardlm {
namespace {

constexpr int kK = 64;
constexpr int kTrials = 20000;

std::vector<float> make_logits(int n, uint32_t salt) {
  std::vector<float> l(static_cast<size_t>(n));
  uint32_t x = 2463534242u ^ salt;
  for (auto& v : l) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    v = static_cast<float>(x % 1000) / 1000.0f * 5.0f - 2.0f;  // [-2, 3)
  }
  return l;
}

// The target distribution from the full logits (the oracle).
std::vector<double> oracle(const std::vector<float>& l, const SamplingParams& p) {
  const size_t n = l.size();
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
  std::vector<double> w(n, 0.0);
  const double x0 = l[idx[0]] / static_cast<double>(p.temperature);
  for (size_t i = 0; i < n; ++i) w[idx[i]] = std::exp(l[idx[i]] / static_cast<double>(p.temperature) - x0);
  size_t keep = n;
  if (p.top_k > 0) keep = std::min(keep, static_cast<size_t>(p.top_k));
  if (p.min_p > 0.0f) {
    size_t m = 0;
    while (m < keep && w[idx[m]] >= p.min_p) ++m;
    keep = m;
  }
  if (p.top_p < 1.0f) {
    double mass = 0.0;
    for (size_t i = 0; i < keep; ++i) mass += w[idx[i]];
    double cum = 0.0;
    for (size_t i = 0; i < keep; ++i) {
      cum += w[idx[i]];
      if (cum >= p.top_p * mass) {
        keep = i + 1;
        break;
      }
    }
  }
  std::vector<double> prob(n, 0.0);
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) total += w[idx[i]];
  for (size_t i = 0; i < keep; ++i) prob[idx[i]] = w[idx[i]] / total;
  return prob;
}

// The records of one row from uneven slices, through the wire format.
std::vector<Candidates> rows_of(const std::vector<float>& l, const SamplingParams& p, uint64_t counter,
                                const std::vector<int32_t>& probe) {
  const int n = static_cast<int>(l.size());
  const int cuts[] = {0, n / 5, n / 2 + 1, n};
  std::vector<Candidates> out;
  for (int r = 0; r < 3; ++r) {
    const int v0 = cuts[r], len = cuts[r + 1] - cuts[r];
    Candidates c = reduce_slice(l.data() + v0, v0, len, p, 0, counter, kK, 0, &probe);
    std::vector<uint8_t> buf;
    c.serialize(buf, kK);
    auto back = Candidates::deserialize(buf.data(), buf.size());
    EXPECT_TRUE(back.is_ok()) << back.message();
    out.push_back(back.value());
  }
  return out;
}

// Chi-square of counts against probabilities over n draws; bins with expectation below
// 5 are pooled. A token of probability 0 drawn at all fails (outside the support).
struct Chi {
  double stat = 0.0;
  int dof = 0;
  bool outside = false;
  double threshold() const { return dof + 8.0 * std::sqrt(2.0 * dof) + 10.0; }
};

Chi chi_square(const std::map<int32_t, int>& counts, const std::vector<double>& prob, int n) {
  Chi c;
  double pooled_e = 0.0, pooled_o = 0.0;
  int bins = 0;
  for (size_t t = 0; t < prob.size(); ++t) {
    auto it = counts.find(static_cast<int32_t>(t));
    const double o = it == counts.end() ? 0.0 : it->second;
    const double e = prob[t] * n;
    if (prob[t] == 0.0) {
      if (o > 0) c.outside = true;
      continue;
    }
    if (e < 5.0) {
      pooled_e += e;
      pooled_o += o;
      continue;
    }
    c.stat += (o - e) * (o - e) / e;
    ++bins;
  }
  if (pooled_e > 0.0) {
    c.stat += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e;
    ++bins;
  }
  for (const auto& [t, o] : counts)
    if (t < 0 || static_cast<size_t>(t) >= prob.size()) c.outside = true;
  c.dof = std::max(1, bins - 1);
  return c;
}

std::vector<SamplingParams> configs() {
  std::vector<SamplingParams> v;
  SamplingParams p;
  p.temperature = 0.8f;  // gumbel: the full vocabulary
  v.push_back(p);
  p.temperature = 1.3f;
  p.top_k = 6;
  v.push_back(p);
  p = {};
  p.temperature = 1.0f;
  p.top_p = 0.7f;
  v.push_back(p);
  p = {};
  p.temperature = 0.7f;
  p.min_p = 0.15f;
  v.push_back(p);
  p = {};
  p.temperature = 1.1f;
  p.top_k = 10;
  p.top_p = 0.8f;
  v.push_back(p);
  return v;
}

std::string name(const SamplingParams& p) {
  return "T=" + std::to_string(p.temperature) + " top_k=" + std::to_string(p.top_k) + " top_p=" +
         std::to_string(p.top_p) + " min_p=" + std::to_string(p.min_p);
}

// A deterministic (n-gram) proposal: q = {(x, 1)}, for a likely token, an unlikely one,
// and (with filters) one outside the support.
TEST(SpecVerify, NgramProposalKeepsTheTargetDistribution) {
  const std::vector<float> l = make_logits(48, 1);
  for (const SamplingParams& base : configs()) {
    const std::vector<double> want = oracle(l, base);
    const auto best = static_cast<int32_t>(std::max_element(want.begin(), want.end()) - want.begin());
    const auto worst = static_cast<int32_t>(std::min_element(l.begin(), l.end()) - l.begin());
    for (int32_t x : {best, int32_t{7}, worst}) {
      std::map<int32_t, int> got, always;
      int accepted = 0;
      for (int i = 0; i < kTrials; ++i) {
        SamplingParams p = base;
        p.seed = 1000 + static_cast<uint64_t>(i);
        const auto rows = rows_of(l, p, 9, {x});
        const SpecVerdict v = verify_proposal(rows, p, 0, 9, x, {{x, 1.0f}});
        ASSERT_GE(v.token, 0) << name(p);
        ++got[v.token];
        accepted += v.accepted ? 1 : 0;
        ++always[x];
        EXPECT_NEAR(target_probability(rows, p, x), want[static_cast<size_t>(x)], 1e-9) << name(p);
      }
      const Chi c = chi_square(got, want, kTrials);
      EXPECT_FALSE(c.outside) << name(base) << " x=" << x << ": a token outside top_k / top_p / min_p";
      EXPECT_LT(c.stat, c.threshold()) << name(base) << " x=" << x << " accepted " << accepted;
      // The acceptance rate is p(x) (within 8 sd).
      const double px = want[static_cast<size_t>(x)];
      EXPECT_NEAR(accepted / static_cast<double>(kTrials), px, 8 * std::sqrt(px * (1 - px) / kTrials) + 1e-12);
      // The test can fail: delivering the proposal always is caught (x is not certain).
      if (px < 0.9) {
        EXPECT_GT(chi_square(always, want, kTrials).stat, c.threshold()) << name(base);
      }
    }
  }
}

// A draft model's proposal: x drawn from q (another distribution, cut to kMaxProbe
// tokens), accepted with min(1, p/q), else the residual.
TEST(SpecVerify, DraftProposalKeepsTheTargetDistribution) {
  const std::vector<float> l = make_logits(48, 1);
  std::vector<float> d = make_logits(48, 77);  // the draft: partly like the target
  for (size_t i = 0; i < d.size(); ++i) d[i] = 0.6f * l[i] + 0.5f * d[i];
  for (const SamplingParams& base : configs()) {
    const std::vector<double> want = oracle(l, base);
    std::map<int32_t, int> got, drafted;
    int accepted = 0;
    for (int i = 0; i < kTrials; ++i) {
      SamplingParams p = base;
      p.seed = 50000 + static_cast<uint64_t>(i);
      const TokenProbs q = proposal_distribution(d.data(), static_cast<int32_t>(d.size()), p, Candidates::kMaxProbe);
      ASSERT_FALSE(q.empty());
      ASSERT_LE(q.size(), static_cast<size_t>(Candidates::kMaxProbe));
      const int32_t x = sample_proposal(q, p, 0, 4);
      std::vector<int32_t> probe;
      for (const auto& e : q) probe.push_back(e.first);
      const SpecVerdict v = verify_proposal(rows_of(l, p, 4, probe), p, 0, 4, x, q);
      ASSERT_GE(v.token, 0) << name(p);
      ++got[v.token];
      ++drafted[x];
      accepted += v.accepted ? 1 : 0;
    }
    const Chi c = chi_square(got, want, kTrials);
    EXPECT_FALSE(c.outside) << name(base) << ": a token outside top_k / top_p / min_p";
    EXPECT_LT(c.stat, c.threshold()) << name(base) << " (accepted " << accepted << " of " << kTrials << ")";
    EXPECT_GT(accepted, kTrials / 10) << name(base) << ": the draft resembles the target";
    EXPECT_GT(chi_square(drafted, want, kTrials).stat, c.threshold()) << name(base) << ": q itself differs from p";
  }
}

// Two positions: the first token verifies proposal x0 (row 0); when accepted, the
// second verifies x1 on row 1 (whose logits follow x0); when not, the second comes
// from an ordinary row after the delivered token (the next step). The pairs follow
// p1(t1) p2(t2 | t1).
TEST(SpecVerify, TwoPositionsFollowTheJointDistribution) {
  const int n = 12;
  const std::vector<float> l1 = make_logits(n, 5);
  auto after = [&](int32_t t) {
    std::vector<float> l = make_logits(n, 9);
    l[static_cast<size_t>((t * 7 + 3) % n)] += 2.5f;
    return l;
  };
  for (const SamplingParams& base : configs()) {
    const std::vector<double> p1 = oracle(l1, base);
    std::vector<double> joint(static_cast<size_t>(n * n), 0.0);
    for (int32_t a = 0; a < n; ++a) {
      const std::vector<double> p2 = oracle(after(a), base);
      for (int32_t b = 0; b < n; ++b) joint[static_cast<size_t>(a * n + b)] = p1[static_cast<size_t>(a)] * p2[static_cast<size_t>(b)];
    }
    const int32_t x0 = 2, x1 = 5;
    std::map<int32_t, int> got;
    for (int i = 0; i < kTrials; ++i) {
      SamplingParams p = base;
      p.seed = 90000 + static_cast<uint64_t>(i);
      const SpecVerdict v1 = verify_proposal(rows_of(l1, p, 20, {x0}), p, 0, 20, x0, {{x0, 1.0f}});
      ASSERT_GE(v1.token, 0);
      int32_t t2;
      if (v1.token == x0) {
        const SpecVerdict v2 = verify_proposal(rows_of(after(x0), p, 21, {x1}), p, 0, 21, x1, {{x1, 1.0f}});
        t2 = v2.token;
      } else {
        t2 = merge_and_sample(rows_of(after(v1.token), p, 21, {}), p, 0, 21);
      }
      ASSERT_GE(t2, 0);
      ++got[v1.token * n + t2];
    }
    const Chi c = chi_square(got, joint, kTrials);
    EXPECT_FALSE(c.outside) << name(base);
    EXPECT_LT(c.stat, c.threshold()) << name(base);
  }
}

// Records that do not fit the proposal are an error value, never a token.
TEST(SpecVerify, MismatchedRecordsGiveNoToken) {
  const std::vector<float> l = make_logits(48, 1);
  SamplingParams p;
  p.temperature = 0.9f;
  EXPECT_EQ(verify_proposal(rows_of(l, p, 3, {}), p, 0, 3, 4, {{4, 1.0f}}).token, -1) << "no probe logits";
  EXPECT_EQ(verify_proposal(rows_of(l, p, 3, {4}), p, 0, 3, 5, {{4, 1.0f}}).token, -1) << "x not in q";
  SamplingParams g;
  g.temperature = 0.0f;
  EXPECT_EQ(verify_proposal(rows_of(l, g, 3, {4}), g, 0, 3, 4, {{4, 1.0f}}).token, -1) << "greedy rows";
}

// The ranks' winner outside the probes never is a probe, and probe logits are the
// slice owner's.
TEST(SpecVerify, GumbelWinnerAvoidsTheProbes) {
  const std::vector<float> l = make_logits(48, 3);
  SamplingParams p;
  p.temperature = 1.0f;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    p.seed = seed;
    const int32_t plain = merge_and_sample(rows_of(l, p, 2, {}), p, 0, 2);
    const auto rows = rows_of(l, p, 2, {plain, 0});
    for (const auto& c : rows) {
      EXPECT_NE(c.sample_token, plain);
      EXPECT_NE(c.sample_token, 0);
      ASSERT_EQ(c.probe_logits.size(), 2u);
    }
    float lp = Candidates::kNegInf;
    for (const auto& c : rows) lp = std::max(lp, c.probe_logits[0]);
    EXPECT_EQ(lp, l[static_cast<size_t>(plain)]);
  }
}

// Penalty counts take back a rejected speculative token exactly.
TEST(SpecVerify, TokenCountsRemoveUndoesAdd) {
  SamplingParams p;
  p.repetition_penalty = 1.3f;
  p.presence_penalty = 0.4f;
  p.frequency_penalty = 0.2f;
  TokenCounts a, b;
  a.add_prompt({1, 2});
  b.add_prompt({1, 2});
  a.add(3);
  b.add(3);
  a.add(3);
  a.add(4);
  a.add(1);
  a.remove(1);
  a.remove(4);
  a.remove(3);
  a.remove(9);  // never added: nothing
  EXPECT_EQ(a.n_generated(), b.n_generated());
  const std::vector<float> l = make_logits(8, 2);
  std::vector<float> la = l, lb = l;
  apply_penalties(la.data(), 0, 8, a, p);
  apply_penalties(lb.data(), 0, 8, b, p);
  EXPECT_EQ(la, lb);
}

}  // namespace
}  // namespace shardlm
