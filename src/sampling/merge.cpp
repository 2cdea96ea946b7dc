#include "shardlm/sampling/merge.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "shardlm/sampling/rng.h"

namespace shardlm {
namespace {

using Entry = std::pair<int32_t, float>;
constexpr double kNegInfD = -std::numeric_limits<double>::infinity();

bool better(const Entry& a, const Entry& b) {
  return a.second > b.second || (a.second == b.second && a.first < b.first);
}

// The records' top entries merged and sorted, cut to the smallest k of the records
// (all ranks use the same k; the minimum keeps the cut exact if they do not).
std::vector<Entry> merged_top(const std::vector<Candidates>& per_rank) {
  std::vector<Entry> all;
  int32_t k = std::numeric_limits<int32_t>::max();
  for (const auto& c : per_rank) {
    k = std::min(k, c.k);
    all.insert(all.end(), c.top.begin(), c.top.end());
  }
  std::sort(all.begin(), all.end(), better);
  if (all.size() > static_cast<size_t>(std::max(k, 0))) all.resize(static_cast<size_t>(std::max(k, 0)));
  return all;
}

int32_t pick_filtered(const std::vector<Candidates>& per_rank, const SamplingParams& p, uint64_t seq_stream,
                      uint64_t step_counter) {
  const auto cand = filtered_survivors(per_rank, p);
  if (cand.empty()) return -1;
  double total = 0.0;
  for (const auto& e : cand) total += e.second;
  const double target = rng::uniform01(p.seed, seq_stream, step_counter) * total;
  double cum = 0.0;
  for (const auto& e : cand) {
    cum += e.second;
    if (target < cum) return e.first;
  }
  return cand.back().first;  // rounding: u * total == total
}

}  // namespace

std::vector<std::pair<int32_t, double>> filtered_survivors(const std::vector<Candidates>& per_rank,
                                                           const SamplingParams& p) {
  const std::vector<Entry> cand = merged_top(per_rank);
  if (cand.empty()) return {};
  const float T = p.temperature;
  const double x0 = scaled_logit(cand.front().second, T);
  // rel[i] = p_i / p_max, non-increasing (the order is by logit, T > 0).
  std::vector<double> rel(cand.size());
  for (size_t i = 0; i < cand.size(); ++i) rel[i] = std::exp(scaled_logit(cand[i].second, T) - x0);

  size_t keep = cand.size();
  if (p.min_p > 0.0f) {
    keep = 0;
    while (keep < cand.size() && rel[keep] >= static_cast<double>(p.min_p)) ++keep;
  }
  if (p.top_p < 1.0f) {
    int32_t k = std::numeric_limits<int32_t>::max();
    for (const auto& c : per_rank) k = std::min(k, c.k);
    // Do the candidates hold every token left by top_k and min_p?
    const bool complete = p.top_k > 0 || keep < cand.size() || cand.size() < static_cast<size_t>(k);
    double norm = 0.0;
    if (complete) {
      for (size_t i = 0; i < keep; ++i) norm += rel[i];
    } else {
      for (const auto& c : per_rank)
        if (c.lse > kNegInfD) norm += std::exp(c.lse - x0);
    }
    const double target = static_cast<double>(p.top_p) * norm;
    double cum = 0.0;
    for (size_t i = 0; i < keep; ++i) {
      cum += rel[i];
      if (cum >= target) {
        keep = i + 1;
        break;
      }
    }
    // Not reached (mass of the candidates below top_p): keep them all (see merge.h).
  }
  std::vector<std::pair<int32_t, double>> out(keep);
  for (size_t i = 0; i < keep; ++i) out[i] = {cand[i].first, rel[i]};
  return out;
}

double merged_lse(const std::vector<Candidates>& per_rank) {
  double m = kNegInfD;
  for (const auto& c : per_rank) {
    if (c.lse == Candidates::kLseNotComputed) return std::numeric_limits<double>::quiet_NaN();
    m = std::max(m, c.lse);
  }
  if (m == kNegInfD) return m;
  double s = 0.0;
  for (const auto& c : per_rank)
    if (c.lse > kNegInfD) s += std::exp(c.lse - m);
  return m + std::log(s);
}

int32_t merge_and_sample(const std::vector<Candidates>& per_rank, const SamplingParams& p, uint64_t seq_stream,
                         uint64_t step_counter, float* out_logprob) {
  if (out_logprob) *out_logprob = Candidates::kNegInf;
  const SamplingMode mode = p.mode();
  for (const auto& c : per_rank)
    if (c.mode != mode) return -1;
  int32_t tok = -1;
  float logit = 0.0f;
  switch (mode) {
    case SamplingMode::greedy: {
      bool any = false;
      Entry best{-1, 0.0f};
      for (const auto& c : per_rank)
        if (!c.top.empty() && (!any || better(c.top.front(), best))) {
          best = c.top.front();
          any = true;
        }
      if (any) {
        tok = best.first;
        logit = best.second;
      }
      break;
    }
    case SamplingMode::gumbel: {
      double best = kNegInfD;
      for (const auto& c : per_rank)
        if (c.sample_token >= 0 &&
            (tok < 0 || c.sample_key > best || (c.sample_key == best && c.sample_token < tok))) {
          best = c.sample_key;
          tok = c.sample_token;
          logit = c.sample_logit;
        }
      break;
    }
    case SamplingMode::filtered: {
      tok = pick_filtered(per_rank, p, seq_stream, step_counter);
      for (const auto& c : per_rank)
        for (const auto& e : c.top)
          if (e.first == tok) logit = e.second;
      break;
    }
  }
  if (tok >= 0 && out_logprob) {
    const float T = mode == SamplingMode::greedy ? 1.0f : p.temperature;
    *out_logprob = static_cast<float>(scaled_logit(logit, T) - merged_lse(per_rank));
  }
  return tok;
}

std::vector<std::pair<int32_t, float>> top_logprobs(const std::vector<Candidates>& per_rank, int n) {
  std::vector<Entry> cand = merged_top(per_rank);
  if (cand.size() > static_cast<size_t>(std::max(n, 0))) cand.resize(static_cast<size_t>(std::max(n, 0)));
  if (cand.empty()) return cand;
  const double lz = merged_lse(per_rank);
  const float T = per_rank.front().temperature;
  for (auto& e : cand) e.second = static_cast<float>(scaled_logit(e.second, T) - lz);
  return cand;
}

}  // namespace shardlm
