#include "shardlm/sampling/spec-verify.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "shardlm/sampling/merge.h"
#include "shardlm/sampling/rng.h"

namespace shardlm {
namespace {

constexpr double kNegInfD = -std::numeric_limits<double>::infinity();

// q's probabilities as the proposer drew from them: normalised by their float sum.
std::vector<double> q_norm(const TokenProbs& q) {
  double total = 0.0;
  for (const auto& e : q) total += static_cast<double>(e.second);
  std::vector<double> out(q.size(), 0.0);
  if (total > 0.0)
    for (size_t j = 0; j < q.size(); ++j) out[j] = static_cast<double>(q[j].second) / total;
  return out;
}

// The target's logit of tok as the records carry it (a top entry or a probe at index j).
float record_logit(const std::vector<Candidates>& per_rank, int32_t tok, int j) {
  float l = Candidates::kNegInf;
  for (const auto& c : per_rank) {
    for (const auto& e : c.top)
      if (e.first == tok) l = std::max(l, e.second);
    if (j >= 0 && static_cast<size_t>(j) < c.probe_logits.size()) l = std::max(l, c.probe_logits[static_cast<size_t>(j)]);
  }
  return l;
}

// p over q's tokens (pt[j] for q[j]) and the residual's part outside them: mass and,
// in gumbel mode, the ranks' best sample outside the probes (filtered mode: the
// survivors that q lacks are listed in `rest` with their probabilities).
struct RowTarget {
  std::vector<double> pt;
  std::vector<std::pair<int32_t, double>> rest;  // filtered: survivors not in q, p(t)
  double outside = 0.0;                          // gumbel: 1 - p(q's tokens)
  int32_t out_token = -1;                        // gumbel: the winner outside the probes
  float out_logit = Candidates::kNegInf;
  bool ok = false;
};

RowTarget row_target(const std::vector<Candidates>& per_rank, const SamplingParams& p, const TokenProbs& q) {
  RowTarget t;
  t.pt.assign(q.size(), 0.0);
  if (p.mode() == SamplingMode::filtered) {
    const auto surv = filtered_survivors(per_rank, p);
    double total = 0.0;
    for (const auto& s : surv) total += s.second;
    if (!(total > 0.0)) return t;
    for (const auto& s : surv) {
      const double ps = s.second / total;
      auto it = std::find_if(q.begin(), q.end(), [&](const auto& e) { return e.first == s.first; });
      if (it != q.end()) t.pt[static_cast<size_t>(it - q.begin())] = ps;
      else t.rest.emplace_back(s.first, ps);
    }
    t.ok = true;
    return t;
  }
  const double lz = merged_lse(per_rank);
  if (lz == kNegInfD) return t;
  double in = 0.0;
  for (size_t j = 0; j < q.size(); ++j) {
    float l = Candidates::kNegInf;
    for (const auto& c : per_rank) l = std::max(l, c.probe_logits[j]);
    t.pt[j] = l == Candidates::kNegInf ? 0.0 : std::exp(scaled_logit(l, p.temperature) - lz);
    in += t.pt[j];
  }
  double best = kNegInfD;
  for (const auto& c : per_rank)
    if (c.sample_token >= 0 &&
        (t.out_token < 0 || c.sample_key > best || (c.sample_key == best && c.sample_token < t.out_token))) {
      best = c.sample_key;
      t.out_token = c.sample_token;
      t.out_logit = c.sample_logit;
    }
  t.outside = t.out_token >= 0 ? std::max(0.0, 1.0 - in) : 0.0;
  t.ok = true;
  return t;
}

float logprob_of(const std::vector<Candidates>& per_rank, const SamplingParams& p, float logit) {
  if (logit == Candidates::kNegInf) return Candidates::kNegInf;
  return static_cast<float>(scaled_logit(logit, p.temperature) - merged_lse(per_rank));
}

}  // namespace

SpecVerdict verify_proposal(const std::vector<Candidates>& per_rank, const SamplingParams& p, uint64_t seq_stream,
                            uint64_t step_counter, int32_t proposed, const TokenProbs& q) {
  SpecVerdict v;
  const SamplingMode mode = p.mode();
  const auto jx = static_cast<int>(std::find_if(q.begin(), q.end(), [&](const auto& e) { return e.first == proposed; }) -
                                   q.begin());
  const std::vector<double> qn = q_norm(q);
  if (mode == SamplingMode::greedy || per_rank.empty() || static_cast<size_t>(jx) >= q.size() ||
      q.size() > static_cast<size_t>(Candidates::kMaxProbe) || !(qn[static_cast<size_t>(jx)] > 0.0))
    return v;
  const double qx = qn[static_cast<size_t>(jx)];
  for (const auto& c : per_rank)
    if (c.mode != mode || (mode == SamplingMode::gumbel && c.probe_logits.size() != q.size())) return v;
  const RowTarget t = row_target(per_rank, p, q);
  if (!t.ok) return v;
  const double px = t.pt[static_cast<size_t>(jx)];
  const int probe_j = mode == SamplingMode::gumbel ? jx : -1;
  // Accept with probability min(1, p(x) / q(x)).
  if (rng::uniform01(p.seed, seq_stream, step_counter, kAcceptIndex) * qx < px) {
    v.accepted = true;
    v.token = proposed;
    v.logprob = logprob_of(per_rank, p, record_logit(per_rank, proposed, probe_j));
    return v;
  }
  // The residual max(0, p - q): on q's tokens, then the rest (filtered: survivors q
  // lacks; gumbel: the mass outside q, drawn by the ranks' winner outside the probes).
  std::vector<double> r(q.size());
  double in = 0.0, rest = t.outside;
  for (size_t j = 0; j < q.size(); ++j) in += r[j] = std::max(0.0, t.pt[j] - qn[j]);
  for (const auto& e : t.rest) rest += e.second;
  const double total = in + rest;
  if (!(total > 0.0)) {  // p == q up to rounding: the acceptance above is then certain
    v.accepted = true;
    v.token = proposed;
    v.logprob = logprob_of(per_rank, p, record_logit(per_rank, proposed, probe_j));
    return v;
  }
  const double target = rng::uniform01(p.seed, seq_stream, step_counter) * total;
  double cum = 0.0;
  for (size_t j = 0; j < q.size(); ++j) {
    cum += r[j];
    if (r[j] > 0.0 && target < cum) {
      v.token = q[j].first;
      v.logprob = logprob_of(per_rank, p, record_logit(per_rank, v.token, mode == SamplingMode::gumbel ? static_cast<int>(j) : -1));
      return v;
    }
  }
  if (mode == SamplingMode::gumbel && t.out_token >= 0) {
    v.token = t.out_token;
    v.logprob = logprob_of(per_rank, p, t.out_logit);
    return v;
  }
  for (const auto& e : t.rest) {
    cum += e.second;
    if (target < cum || &e == &t.rest.back()) {
      v.token = e.first;
      v.logprob = logprob_of(per_rank, p, record_logit(per_rank, v.token, -1));
      return v;
    }
  }
  // Rounding left the draw past the inside part and nothing is outside: the last
  // token with residual mass.
  for (size_t j = q.size(); j-- > 0;)
    if (r[j] > 0.0) {
      v.token = q[j].first;
      v.logprob = logprob_of(per_rank, p, record_logit(per_rank, v.token, probe_j >= 0 ? static_cast<int>(j) : -1));
      return v;
    }
  return v;
}

double target_probability(const std::vector<Candidates>& per_rank, const SamplingParams& p, int32_t token) {
  if (p.mode() == SamplingMode::greedy || per_rank.empty()) return 0.0;
  const TokenProbs q{{token, 1.0f}};
  if (p.mode() == SamplingMode::gumbel)
    for (const auto& c : per_rank)
      if (c.probe_logits.size() != 1) return 0.0;
  const RowTarget t = row_target(per_rank, p, q);
  return t.ok ? t.pt[0] : 0.0;
}

TokenProbs proposal_distribution(const float* logits, int32_t n, const SamplingParams& p, int max_support) {
  TokenProbs q;
  std::vector<std::pair<int32_t, float>> all;
  all.reserve(static_cast<size_t>(std::max(n, 0)));
  for (int32_t i = 0; i < n; ++i)
    if (std::isfinite(logits[i])) all.emplace_back(i, logits[i]);
  if (all.empty()) return q;
  auto better = [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); };
  if (p.mode() == SamplingMode::greedy) {
    q.emplace_back(std::min_element(all.begin(), all.end(), better)->first, 1.0f);
    return q;
  }
  max_support = std::clamp(max_support, 1, Candidates::kMaxProbe);
  // The top_k cut first (the whole vocabulary without it), sorted most likely first.
  const size_t keep_k = p.top_k > 0 ? std::min(all.size(), static_cast<size_t>(p.top_k)) : all.size();
  const size_t sorted = std::min(keep_k, std::max(static_cast<size_t>(max_support), size_t{1}));
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(sorted), all.end(), better);
  const float T = p.temperature;
  const double x0 = scaled_logit(all.front().second, T);
  double norm = 0.0;  // mass (relative to the best) of what top_k keeps
  for (size_t i = 0; i < keep_k; ++i) norm += std::exp(scaled_logit(all[i].second, T) - x0);
  std::vector<double> rel;
  double cum = 0.0;
  for (size_t i = 0; i < sorted; ++i) {
    const double r = std::exp(scaled_logit(all[i].second, T) - x0);
    if (p.min_p > 0.0f && r < static_cast<double>(p.min_p)) break;
    rel.push_back(r);
    cum += r;
    if (p.top_p < 1.0f && cum >= static_cast<double>(p.top_p) * norm) break;
  }
  double total = 0.0;
  for (double r : rel) total += r;
  for (size_t i = 0; i < rel.size(); ++i) q.emplace_back(all[i].first, static_cast<float>(rel[i] / total));
  return q;
}

int32_t sample_proposal(const TokenProbs& q, const SamplingParams& p, uint64_t seq_stream, uint64_t step_counter) {
  if (q.empty()) return -1;
  double total = 0.0;
  for (const auto& e : q) total += static_cast<double>(e.second);
  const double target = rng::uniform01(p.seed, seq_stream, step_counter, kProposalIndex) * total;
  double cum = 0.0;
  for (const auto& e : q) {
    cum += static_cast<double>(e.second);
    if (target < cum) return e.first;
  }
  return q.back().first;
}

}  // namespace shardlm
