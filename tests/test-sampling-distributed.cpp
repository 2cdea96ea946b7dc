// Distributed sampling without MPI: the vocab is cut into slices as ranks would hold it,
// each slice is reduced and serialized as it would be gathered, and rank 0's merge is
// checked against a plain single-vector reference written here, and against hand-checked
// tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "shardlm/sampling/candidates.h"
#include "shardlm/sampling/merge.h"
#include "shardlm/sampling/rng.h"
#include "shardlm/sampling/sampling-params.h"

using namespace shardlm;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// ---- test data -------------------------------------------------------------------

std::vector<float> normal_logits(int V, double sigma, uint64_t seed) {
  std::mt19937_64 g(seed);
  auto unit = [&] { return (static_cast<double>(g() >> 11) + 0.5) * 0x1.0p-53; };
  std::vector<float> v(static_cast<size_t>(V));
  for (auto& x : v) x = static_cast<float>(sigma * std::sqrt(-2.0 * std::log(unit())) * std::cos(6.283185307179586 * unit()));
  return v;
}

// Logits with deliberate ties (copies of other entries, including the maximum).
std::vector<float> tied_logits(int V, uint64_t seed) {
  std::vector<float> v = normal_logits(V, 2.5, seed);
  const size_t top = static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());
  v[static_cast<size_t>(V) - 1] = v[top];
  for (int i = 0; i + 7 < V; i += 11) v[static_cast<size_t>(i) + 7] = v[static_cast<size_t>(i)];
  return v;
}

std::vector<float> log_probs(const std::vector<double>& probs) {
  std::vector<float> v;
  for (double q : probs) v.push_back(static_cast<float>(std::log(q)));
  return v;
}

// Cut points 0 = c0 <= c1 <= ... <= c_parts = V, uneven, empty slices allowed.
std::vector<int32_t> cuts_for(int32_t V, int parts, uint64_t seed) {
  std::mt19937_64 g(seed * 7919 + static_cast<uint64_t>(parts));
  std::vector<int32_t> c{0, V};
  for (int i = 1; i < parts; ++i) c.push_back(static_cast<int32_t>(g() % static_cast<uint64_t>(V + 1)));
  std::sort(c.begin(), c.end());
  return c;
}

std::vector<std::vector<int32_t>> all_splits(int32_t V) {
  std::vector<std::vector<int32_t>> s;
  for (int parts : {1, 2, 3, 4, 7}) s.push_back(cuts_for(V, parts, 1));
  s.push_back(cuts_for(V, 4, 2));
  s.push_back(cuts_for(V, 7, 3));
  s.push_back({0, 0, V / 2, V / 2, V});  // two empty ranks
  s.push_back({0, 1, V - 1, V});         // single-token slices at both ends
  return s;
}

// What each rank computes and rank 0 receives: reduce, serialize into one gathered
// buffer of fixed-size records, deserialize.
std::vector<Candidates> reduce_all(const std::vector<float>& logits, const std::vector<int32_t>& cuts,
                                   const SamplingParams& p, uint64_t seq, uint64_t step, int K,
                                   bool need_lse = true) {
  std::vector<uint8_t> gathered;
  for (size_t r = 0; r + 1 < cuts.size(); ++r) {
    Candidates c =
        reduce_slice(logits.data() + cuts[r], cuts[r], cuts[r + 1] - cuts[r], p, seq, step, K, 0, nullptr, need_lse);
    c.serialize(gathered, K);
  }
  const size_t rec = Candidates::record_bytes(K);
  EXPECT_EQ(gathered.size(), rec * (cuts.size() - 1));
  std::vector<Candidates> out;
  for (size_t r = 0; r + 1 < cuts.size(); ++r) {
    auto c = Candidates::deserialize(gathered.data() + r * rec, rec);
    EXPECT_TRUE(c.is_ok()) << c.message();
    out.push_back(c.is_ok() ? c.value() : Candidates{});
  }
  return out;
}

int32_t sample_split(const std::vector<float>& logits, const std::vector<int32_t>& cuts, const SamplingParams& p,
                     uint64_t seq, uint64_t step, int K, float* lp = nullptr) {
  return merge_and_sample(reduce_all(logits, cuts, p, seq, step, K), p, seq, step, lp);
}

// ---- plain single-vector reference --------------------------------------------------

long double ref_lse(const std::vector<float>& logits, float T) {
  long double m = -INFINITY, s = 0;
  for (float l : logits)
    if (std::isfinite(l)) m = std::max(m, static_cast<long double>(l) / T);
  for (float l : logits)
    if (std::isfinite(l)) s += std::exp(static_cast<long double>(l) / T - m);
  return m + std::log(s);
}

// Finite tokens, most likely first, ties by lowest id.
std::vector<int32_t> ref_order(const std::vector<float>& logits) {
  std::vector<int32_t> idx;
  for (int32_t i = 0; i < static_cast<int32_t>(logits.size()); ++i)
    if (std::isfinite(logits[static_cast<size_t>(i)])) idx.push_back(i);
  std::stable_sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) {
    return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)];
  });
  return idx;
}

// The survivors of the filters, with their probabilities (not renormalized), as the
// documented semantics define them: support capped at the global top K.
std::vector<std::pair<int32_t, long double>> ref_survivors(const std::vector<float>& logits, const SamplingParams& p,
                                                           int K) {
  const float T = p.temperature;
  const long double lz = ref_lse(logits, T);
  const std::vector<int32_t> order = ref_order(logits);
  auto prob = [&](int32_t i) { return std::exp(static_cast<long double>(logits[static_cast<size_t>(i)]) / T - lz); };
  const size_t k = static_cast<size_t>(p.top_k > 0 ? std::min(p.top_k, K) : K);
  const long double pmax = prob(order.front());
  std::vector<std::pair<int32_t, long double>> s;
  for (size_t i = 0; i < std::min(k, order.size()); ++i)
    if (prob(order[i]) >= p.min_p * pmax) s.push_back({order[i], prob(order[i])});
  if (p.top_p < 1.0f) {
    // Normalizer: the mass that top_k and min_p leave over the whole vocabulary.
    long double norm = 0;
    if (p.top_k > 0) {
      for (auto& e : s) norm += e.second;
    } else {
      for (int32_t i : order)
        if (prob(i) >= p.min_p * pmax) norm += prob(i);
    }
    long double cum = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      cum += s[i].second;
      if (cum >= p.top_p * norm) {
        s.resize(i + 1);
        break;
      }
    }
  }
  return s;
}

int32_t ref_sample(const std::vector<float>& logits, const SamplingParams& p, uint64_t seq, uint64_t step, int K) {
  switch (p.mode()) {
    case SamplingMode::greedy:
      return ref_order(logits).front();
    case SamplingMode::gumbel: {
      int32_t best = -1;
      double best_key = 0;
      for (int32_t i = 0; i < static_cast<int32_t>(logits.size()); ++i) {
        if (!std::isfinite(logits[static_cast<size_t>(i)])) continue;
        double key = static_cast<double>(logits[static_cast<size_t>(i)]) / p.temperature +
                     rng::gumbel(p.seed, seq, step, static_cast<uint64_t>(i));
        if (best < 0 || key > best_key) best = i, best_key = key;
      }
      return best;
    }
    case SamplingMode::filtered: {
      auto s = ref_survivors(logits, p, K);
      long double total = 0;
      for (auto& e : s) total += e.second;
      const long double r = rng::uniform01(p.seed, seq, step) * total;
      long double cum = 0;
      for (auto& e : s) {
        cum += e.second;
        if (r < cum) return e.first;
      }
      return s.back().first;
    }
  }
  return -1;
}

std::set<int32_t> support(const std::vector<float>& logits, const SamplingParams& p, int K, int n_draws,
                          const std::vector<int32_t>& cuts) {
  std::set<int32_t> seen;
  for (int step = 0; step < n_draws; ++step) seen.insert(sample_split(logits, cuts, p, 3, static_cast<uint64_t>(step), K));
  return seen;
}

// Pearson chi-square of observed counts against expected probabilities.
double chi_square(const std::map<int32_t, int>& counts, const std::vector<double>& probs, int n) {
  double chi = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    auto it = counts.find(static_cast<int32_t>(i));
    const double o = it == counts.end() ? 0 : it->second;
    const double e = probs[i] * n;
    if (e > 0) chi += (o - e) * (o - e) / e;
  }
  return chi;
}

SamplingParams params(float T, int top_k = 0, float top_p = 1.0f, float min_p = 0.0f, uint64_t seed = 0) {
  SamplingParams p;
  p.temperature = T;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  p.seed = seed;
  return p;
}

}  // namespace

// ---- rng -------------------------------------------------------------------------------

TEST(SamplingRng, DeterministicAndSensitiveToEveryInput) {
  static_assert(rng::hash(1, 2, 3) == rng::hash(1, 2, 3));
  const uint64_t h = rng::hash(7, 11, 13);
  EXPECT_NE(h, rng::hash(8, 11, 13));
  EXPECT_NE(h, rng::hash(7, 12, 13));
  EXPECT_NE(h, rng::hash(7, 11, 14));
  EXPECT_NE(rng::hash(7, 11, 13, 0), rng::hash(7, 11, 13, 1));
  EXPECT_NE(rng::hash(7, 11, 13, 0), h);
  EXPECT_EQ(rng::uniform01(7, 11, 13), rng::to_unit(h));
  EXPECT_EQ(rng::gumbel(7, 11, 13, 5), rng::gumbel(7, 11, 13, 5));
}

TEST(SamplingRng, UniformIsStrictlyInsideAndUniform) {
  EXPECT_GT(rng::to_unit(0), 0.0);
  EXPECT_LT(rng::to_unit(~uint64_t{0}), 1.0);
  const int n = 200000, bins = 20;
  std::vector<int> hist(bins);
  double mean = 0;
  for (int i = 0; i < n; ++i) {
    double u = rng::uniform01(42, 1, static_cast<uint64_t>(i));
    ASSERT_GT(u, 0.0);
    ASSERT_LT(u, 1.0);
    mean += u / n;
    ++hist[static_cast<size_t>(u * bins)];
  }
  EXPECT_NEAR(mean, 0.5, 0.005);
  double chi = 0;
  for (int c : hist) chi += (c - n / bins) * (c - n / bins) / static_cast<double>(n / bins);
  EXPECT_LT(chi, 60.0) << "19 degrees of freedom";
}

TEST(SamplingRng, GumbelUpperBoundHolds) {
  std::vector<uint64_t> hs{0, ~uint64_t{0}, ~uint64_t{0} << 12, uint64_t{1} << 63, (uint64_t{1} << 63) - 1};
  for (int i = 0; i < 100000; ++i) hs.push_back(rng::hash(1, 2, static_cast<uint64_t>(i)));
  for (int b = 0; b < 64; ++b) hs.push_back(~uint64_t{0} << b), hs.push_back(~(~uint64_t{0} >> b));
  for (uint64_t h : hs) {
    const double g = rng::gumbel_from_hash(h), ub = rng::gumbel_upper_bound(h);
    ASSERT_TRUE(std::isfinite(g)) << h;
    ASSERT_LE(g, ub + 1e-12 * (1 + std::fabs(ub))) << h;
  }
  // Mean of the standard Gumbel is the Euler-Mascheroni constant.
  double mean = 0;
  for (int i = 0; i < 200000; ++i) mean += rng::gumbel(3, 0, 0, static_cast<uint64_t>(i)) / 200000;
  EXPECT_NEAR(mean, 0.5772156649, 0.01);
}

// ---- params --------------------------------------------------------------------------

TEST(SamplingParamsTest, ValidateRejectsBadValues) {
  EXPECT_TRUE(SamplingParams{}.validate().is_ok());
  EXPECT_TRUE(params(0.0f).validate().is_ok());
  EXPECT_TRUE(params(0.7f, 40, 0.0f, 1.0f).validate().is_ok());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Bad {
    SamplingParams p;
    std::string field;
  };
  std::vector<Bad> bad;
  auto with = [](auto f) {
    SamplingParams p;
    f(p);
    return p;
  };
  bad.push_back({with([&](SamplingParams& p) { p.temperature = nan; }), "temperature"});
  bad.push_back({with([](SamplingParams& p) { p.temperature = -0.5f; }), "temperature"});
  bad.push_back({with([](SamplingParams& p) { p.temperature = kInf; }), "temperature"});
  bad.push_back({with([](SamplingParams& p) { p.top_k = -1; }), "top_k"});
  bad.push_back({with([](SamplingParams& p) { p.top_p = 1.5f; }), "top_p"});
  bad.push_back({with([](SamplingParams& p) { p.top_p = -0.1f; }), "top_p"});
  bad.push_back({with([&](SamplingParams& p) { p.top_p = nan; }), "top_p"});
  bad.push_back({with([](SamplingParams& p) { p.min_p = -0.1f; }), "min_p"});
  bad.push_back({with([](SamplingParams& p) { p.min_p = 2.0f; }), "min_p"});
  bad.push_back({with([&](SamplingParams& p) { p.min_p = nan; }), "min_p"});
  bad.push_back({with([](SamplingParams& p) { p.repetition_penalty = 0.0f; }), "repetition_penalty"});
  bad.push_back({with([&](SamplingParams& p) { p.repetition_penalty = nan; }), "repetition_penalty"});
  bad.push_back({with([](SamplingParams& p) { p.presence_penalty = 2.5f; }), "presence_penalty"});
  bad.push_back({with([&](SamplingParams& p) { p.frequency_penalty = nan; }), "frequency_penalty"});
  bad.push_back({with([](SamplingParams& p) { p.frequency_penalty = -3.0f; }), "frequency_penalty"});
  for (const auto& b : bad) {
    Status st = b.p.validate();
    EXPECT_FALSE(st.is_ok()) << b.field;
    EXPECT_NE(st.message().find(b.field), std::string::npos) << st.message();
  }
}

TEST(SamplingParamsTest, Mode) {
  EXPECT_EQ(params(0.0f, 5, 0.5f).mode(), SamplingMode::greedy);
  EXPECT_EQ(params(0.8f).mode(), SamplingMode::gumbel);
  EXPECT_EQ(params(0.8f, 5).mode(), SamplingMode::filtered);
  EXPECT_EQ(params(0.8f, 0, 0.9f).mode(), SamplingMode::filtered);
  EXPECT_EQ(params(0.8f, 0, 1.0f, 0.05f).mode(), SamplingMode::filtered);
}

// ---- serialization -------------------------------------------------------------------

TEST(SamplingCandidates, SerializationRoundTrip) {
  const std::vector<float> logits = tied_logits(100, 5);
  const int K = 12;
  EXPECT_EQ(Candidates::record_bytes(K), 48u + 8u * K + 4u + 4u * Candidates::kMaxProbe);
  for (const SamplingParams& p : {params(0.0f), params(0.9f), params(0.9f, 0, 0.8f), params(1.2f, 5, 0.9f, 0.01f)}) {
    std::vector<Candidates> recs;
    recs.push_back(reduce_slice(logits.data(), 0, 40, p, 9, 4, K));
    recs.push_back(reduce_slice(logits.data() + 40, 40, 0, p, 9, 4, K));  // empty slice
    recs.push_back(reduce_slice(logits.data() + 40, 40, 60, p, 9, 4, K));
    std::vector<uint8_t> buf;
    for (const auto& c : recs) c.serialize(buf, K);
    ASSERT_EQ(buf.size(), 3 * Candidates::record_bytes(K)) << "size depends only on K";
    for (size_t r = 0; r < recs.size(); ++r) {
      auto back = Candidates::deserialize(buf.data() + r * Candidates::record_bytes(K), Candidates::record_bytes(K));
      ASSERT_TRUE(back.is_ok()) << back.message();
      EXPECT_TRUE(back.value() == recs[r]) << "record " << r;
    }
    EXPECT_TRUE(recs[1].top.empty());
    EXPECT_EQ(recs[1].lse, -std::numeric_limits<double>::infinity());
    EXPECT_FALSE(recs[0].top.empty());
  }
}

TEST(SamplingCandidates, DeserializeRejectsCorruptRecords) {
  const std::vector<float> logits = normal_logits(50, 1.0, 1);
  const int K = 8;
  const size_t rec = Candidates::record_bytes(K);
  std::vector<uint8_t> good;
  reduce_slice(logits.data(), 0, 50, params(1.0f, 8), 0, 0, K).serialize(good, K);
  ASSERT_TRUE(Candidates::deserialize(good.data(), rec).is_ok());
  EXPECT_FALSE(Candidates::deserialize(good.data(), 40).is_ok()) << "too short";
  EXPECT_FALSE(Candidates::deserialize(good.data(), rec - 8).is_ok()) << "k larger than the record";
  auto bad = good;
  bad[0] ^= 0xff;
  EXPECT_FALSE(Candidates::deserialize(bad.data(), rec).is_ok()) << "magic";
  bad = good;
  bad[4] = 9;
  EXPECT_FALSE(Candidates::deserialize(bad.data(), rec).is_ok()) << "mode";
  bad = good;
  std::swap_ranges(bad.begin() + 48, bad.begin() + 56, bad.begin() + 56);  // entries 0 and 1 swapped
  EXPECT_FALSE(Candidates::deserialize(bad.data(), rec).is_ok()) << "order";
  bad = good;
  const int32_t neg = -5;
  std::memcpy(bad.data() + 48, &neg, 4);
  EXPECT_FALSE(Candidates::deserialize(bad.data(), rec).is_ok()) << "token id";
}

TEST(SamplingCandidates, ReduceSliceKeepsTheSliceBestInOrder) {
  // ids 10..15; top 3 by logit desc then id asc: 12 (5), 14 (5), 13 (4)
  const std::vector<float> l{1, 2, 5, 4, 5, -kInf};
  Candidates c = reduce_slice(l.data(), 10, 6, params(2.0f, 3), 0, 0, 64);
  ASSERT_EQ(c.top.size(), 3u);
  EXPECT_EQ(c.top[0], (std::pair<int32_t, float>{12, 5.0f}));
  EXPECT_EQ(c.top[1], (std::pair<int32_t, float>{14, 5.0f}));
  EXPECT_EQ(c.top[2], (std::pair<int32_t, float>{13, 4.0f}));
  EXPECT_EQ(c.k, 3);
  EXPECT_EQ(c.max_logit, 5.0f);
  double s = 0;
  for (float x : {1, 2, 5, 4, 5}) s += std::exp(x / 2.0);
  EXPECT_NEAR(c.lse, std::log(s), 1e-12);
  EXPECT_EQ(reduce_slice(l.data(), 10, 6, params(2.0f, 100), 0, 0, 4).k, 4) << "top_k clamped to K";
  EXPECT_EQ(reduce_slice(l.data(), 10, 6, params(2.0f, 0, 0.5f), 0, 0, 4).top.size(), 4u);
}

// ---- greedy --------------------------------------------------------------------------

TEST(SamplingGreedy, EqualsArgmaxWhateverTheSplit) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const std::vector<float> l = seed % 2 ? tied_logits(1000, seed) : normal_logits(1000, 3.0, seed);
    const int32_t expect = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    for (const auto& cuts : all_splits(1000)) {
      float lp = 0;
      EXPECT_EQ(sample_split(l, cuts, params(0.0f, 0, 1.0f, 0.0f, seed), 0, seed, 16, &lp), expect);
      EXPECT_NEAR(lp, static_cast<double>(l[static_cast<size_t>(expect)]) - static_cast<double>(ref_lse(l, 1.0f)), 1e-5);
    }
  }
}

TEST(SamplingGreedy, TiesGoToTheLowestIdAcrossRanksAndRankOrder) {
  std::vector<float> l(20, 0.0f);
  l[13] = 3.0f;
  l[6] = 3.0f;
  l[17] = 3.0f;
  for (const auto& cuts : all_splits(20)) {
    auto recs = reduce_all(l, cuts, params(0.0f), 0, 0, 4);
    EXPECT_EQ(merge_and_sample(recs, params(0.0f), 0, 0), 6);
    std::reverse(recs.begin(), recs.end());
    EXPECT_EQ(merge_and_sample(recs, params(0.0f), 0, 0), 6);
  }
}

TEST(SamplingGreedy, NonFiniteLogitsAreIgnored) {
  std::vector<float> l{std::numeric_limits<float>::quiet_NaN(), -kInf, 1.0f, kInf, 2.0f, -kInf, -kInf};
  for (const auto& cuts : all_splits(7)) EXPECT_EQ(sample_split(l, cuts, params(0.0f), 0, 0, 4), 4);
  std::vector<float> none(5, -kInf);
  float lp = 0;
  EXPECT_EQ(sample_split(none, {0, 2, 5}, params(0.0f), 0, 0, 4, &lp), -1);
  EXPECT_EQ(lp, -kInf);
  EXPECT_EQ(sample_split(none, {0, 2, 5}, params(1.0f), 0, 0, 4), -1);
  EXPECT_EQ(sample_split(none, {0, 2, 5}, params(1.0f, 3), 0, 0, 4), -1);
  EXPECT_EQ(merge_and_sample({}, params(0.0f), 0, 0), -1);
}

TEST(SamplingMerge, ModeMismatchIsRefused) {
  const std::vector<float> l = normal_logits(30, 1.0, 3);
  auto recs = reduce_all(l, {0, 10, 30}, params(0.0f), 0, 0, 4);
  EXPECT_EQ(merge_and_sample(recs, params(1.0f), 0, 0), -1);
  EXPECT_GE(merge_and_sample(recs, params(0.0f), 0, 0), 0);
}

// ---- gumbel --------------------------------------------------------------------------

TEST(SamplingGumbel, SameTokenWhateverTheSplitAndEqualsReference) {
  for (int V : {50, 1000, 40000}) {
    const std::vector<float> l = tied_logits(V, static_cast<uint64_t>(V));
    const auto splits = all_splits(V);
    const int n_steps = V > 10000 ? 20 : 100;
    std::set<int32_t> seen;
    for (int step = 0; step < n_steps; ++step) {
      const SamplingParams p = params(V == 50 ? 1.5f : 0.8f, 0, 1.0f, 0.0f, 1234);
      const int32_t expect = ref_sample(l, p, 77, static_cast<uint64_t>(step), 16);
      seen.insert(expect);
      for (const auto& cuts : splits) {
        float lp = 0;
        ASSERT_EQ(sample_split(l, cuts, p, 77, static_cast<uint64_t>(step), 16, &lp), expect) << V << " step " << step;
        EXPECT_NEAR(lp, static_cast<double>(l[static_cast<size_t>(expect)]) / p.temperature - static_cast<double>(ref_lse(l, p.temperature)),
                    1e-4);
      }
    }
    EXPECT_GT(seen.size(), 1u) << "the draws must vary with the counter";
  }
}

TEST(SamplingGumbel, EmpiricalDistributionMatchesSoftmax) {
  const std::vector<float> l{2.0f, 1.0f, 0.5f, 0.0f, -1.0f, 1.0f};
  const float T = 0.8f;
  std::vector<double> probs;
  double z = 0;
  for (float x : l) z += std::exp(x / T);
  for (float x : l) probs.push_back(std::exp(x / T) / z);
  const int n = 40000;
  for (const std::vector<int32_t>& cuts : {std::vector<int32_t>{0, 6}, std::vector<int32_t>{0, 1, 4, 6}}) {
    std::map<int32_t, int> counts;
    for (int step = 0; step < n; ++step) ++counts[sample_split(l, cuts, params(T, 0, 1.0f, 0.0f, 99), 5, static_cast<uint64_t>(step), 8)];
    EXPECT_LT(chi_square(counts, probs, n), 30.0) << "5 degrees of freedom";
    EXPECT_EQ(counts.size(), l.size());
  }
  // Different seeds and streams give different sequences of draws.
  int same = 0;
  for (int step = 0; step < 200; ++step)
    same += sample_split(l, {0, 6}, params(T, 0, 1.0f, 0.0f, 1), 5, static_cast<uint64_t>(step), 8) ==
            sample_split(l, {0, 6}, params(T, 0, 1.0f, 0.0f, 2), 5, static_cast<uint64_t>(step), 8);
  EXPECT_LT(same, 150);
}

// ---- filtered ------------------------------------------------------------------------

TEST(SamplingFiltered, TopKSupportHandChecked) {
  const std::vector<float> l{1, 5, 3, 5, 2, 4};
  for (const auto& cuts : all_splits(6)) {
    EXPECT_EQ(support(l, params(1.0f, 1), 64, 100, cuts), (std::set<int32_t>{1})) << "tie: lowest id";
    EXPECT_EQ(support(l, params(1.0f, 2), 64, 300, cuts), (std::set<int32_t>{1, 3}));
    EXPECT_EQ(support(l, params(1.0f, 3), 64, 300, cuts), (std::set<int32_t>{1, 3, 5}));
    EXPECT_EQ(support(l, params(1.0f, 3), 2, 300, cuts), (std::set<int32_t>{1, 3})) << "top_k clamped to K";
  }
}

TEST(SamplingFiltered, MinPAndTopPSupportHandChecked) {
  // probabilities 0.5, 0.25, 0.15, 0.10 (T = 1)
  const std::vector<float> l = log_probs({0.5, 0.25, 0.15, 0.10});
  for (const auto& cuts : all_splits(4)) {
    EXPECT_EQ(support(l, params(1.0f, 0, 1.0f, 0.29f), 64, 300, cuts), (std::set<int32_t>{0, 1, 2}));
    EXPECT_EQ(support(l, params(1.0f, 0, 1.0f, 0.35f), 64, 300, cuts), (std::set<int32_t>{0, 1}));
    EXPECT_EQ(support(l, params(1.0f, 0, 1.0f, 0.6f), 64, 100, cuts), (std::set<int32_t>{0}));
    EXPECT_EQ(support(l, params(1.0f, 0, 0.4f), 64, 100, cuts), (std::set<int32_t>{0}));
    EXPECT_EQ(support(l, params(1.0f, 0, 0.7f), 64, 300, cuts), (std::set<int32_t>{0, 1}));
    EXPECT_EQ(support(l, params(1.0f, 0, 0.8f), 64, 300, cuts), (std::set<int32_t>{0, 1, 2}));
    EXPECT_EQ(support(l, params(1.0f, 0, 0.95f), 64, 300, cuts), (std::set<int32_t>{0, 1, 2, 3}));
    EXPECT_EQ(support(l, params(1.0f, 0, 0.0f), 64, 50, cuts), (std::set<int32_t>{0})) << "top_p 0";
    // top_p over what min_p left, renormalized: {0.5, 0.25, 0.15} / 0.9 -> 0.556, 0.833 >= 0.8
    EXPECT_EQ(support(l, params(1.0f, 0, 0.8f, 0.25f), 64, 300, cuts), (std::set<int32_t>{0, 1}));
    // top_p over what top_k left, renormalized: {0.5, 0.25} / 0.75 -> 0.667 >= 0.6
    EXPECT_EQ(support(l, params(1.0f, 2, 0.6f), 64, 100, cuts), (std::set<int32_t>{0}));
    EXPECT_EQ(support(l, params(1.0f, 0, 0.6f), 64, 300, cuts), (std::set<int32_t>{0, 1})) << "without top_k";
    // temperature applies first: at T = 0.5 they become 0.725, 0.181, 0.065, 0.029
    EXPECT_EQ(support(l, params(0.5f, 0, 0.8f), 64, 300, cuts), (std::set<int32_t>{0, 1}));
  }
}

TEST(SamplingFiltered, CandidatesBelowTopPAreAllKept) {
  // 10 equal logits, capacity 3: the candidates' mass 0.3 < top_p 0.9, so all three are
  // kept (ties: the lowest ids), and nothing past them.
  const std::vector<float> l(10, 1.0f);
  for (const auto& cuts : all_splits(10))
    EXPECT_EQ(support(l, params(1.0f, 0, 0.9f), 3, 300, cuts), (std::set<int32_t>{0, 1, 2}));
}

TEST(SamplingFiltered, EmpiricalDistributionIsTheRenormalizedSurvivors) {
  const std::vector<float> l{2.0f, 1.0f, 0.5f, 0.0f, -1.0f, 1.5f};
  const SamplingParams p = params(1.0f, 4, 1.0f, 0.0f, 17);  // survivors 0, 5, 1, 2
  std::vector<double> probs(l.size(), 0.0);
  double z = 0;
  for (int i : {0, 5, 1, 2}) z += std::exp(static_cast<double>(l[static_cast<size_t>(i)]));
  for (int i : {0, 5, 1, 2}) probs[static_cast<size_t>(i)] = std::exp(static_cast<double>(l[static_cast<size_t>(i)])) / z;
  const int n = 40000;
  std::map<int32_t, int> counts;
  for (int step = 0; step < n; ++step) ++counts[sample_split(l, {0, 2, 3, 6}, p, 8, static_cast<uint64_t>(step), 16)];
  EXPECT_EQ(counts.count(3) + counts.count(4), 0u);
  EXPECT_LT(chi_square(counts, probs, n), 25.0) << "3 degrees of freedom";
}

TEST(SamplingFiltered, MatchesReferenceWhateverTheSplit) {
  struct Case {
    SamplingParams p;
    int K;
  };
  const int V = 300;
  const std::vector<Case> cases{
      {params(1.0f, 5, 0.8f, 0.05f, 1), 64},  {params(0.7f, 0, 0.9f, 0.0f, 2), 16},
      {params(1.7f, 0, 1.0f, 0.1f, 3), V},    {params(1.0f, 0, 0.7f, 0.02f, 4), V},
      {params(1.0f, 50, 1.0f, 0.0f, 5), 8},   {params(0.5f, 1, 1.0f, 0.0f, 6), 64},
      {params(2.0f, 40, 0.95f, 0.0f, 7), 64}, {params(1.3f, 0, 0.5f, 0.0f, 8), 4},
  };
  for (uint64_t data = 0; data < 3; ++data) {
    const std::vector<float> l = data == 0 ? tied_logits(V, 11) : normal_logits(V, 1.0 + data, 20 + data);
    for (const auto& c : cases) {
      std::set<int32_t> seen;
      for (int step = 0; step < 150; ++step) {
        const int32_t expect = ref_sample(l, c.p, 42, static_cast<uint64_t>(step), c.K);
        seen.insert(expect);
        for (const auto& cuts : all_splits(V)) {
          float lp = 0;
          ASSERT_EQ(sample_split(l, cuts, c.p, 42, static_cast<uint64_t>(step), c.K, &lp), expect)
              << "data " << data << " top_k " << c.p.top_k << " top_p " << c.p.top_p << " min_p " << c.p.min_p
              << " K " << c.K << " step " << step << " cuts " << cuts.size() - 1;
          EXPECT_NEAR(lp,
                      static_cast<double>(l[static_cast<size_t>(expect)]) / c.p.temperature -
                          static_cast<double>(ref_lse(l, c.p.temperature)),
                      1e-4);
        }
      }
      const size_t n_surv = ref_survivors(l, c.p, c.K).size();
      if (n_surv > 3) {
        EXPECT_GT(seen.size(), 1u) << "draws must vary";
      }
    }
  }
}

TEST(SamplingMerge, TopLogprobsAreTheGlobalBest) {
  const std::vector<float> l = tied_logits(200, 4);
  const std::vector<int32_t> order = ref_order(l);
  const long double lz = ref_lse(l, 1.5f);
  for (const auto& cuts : all_splits(200)) {
    auto recs = reduce_all(l, cuts, params(1.5f, 0, 0.9f), 0, 0, 8);
    auto top = top_logprobs(recs, 5);
    ASSERT_EQ(top.size(), 5u);
    for (size_t i = 0; i < top.size(); ++i) {
      EXPECT_EQ(top[i].first, order[i]);
      EXPECT_NEAR(top[i].second, static_cast<double>(l[static_cast<size_t>(order[i])] / 1.5L - lz), 1e-5);
    }
    EXPECT_EQ(top_logprobs(recs, 20).size(), 8u) << "at most K";
    EXPECT_NEAR(merged_lse(recs), static_cast<double>(lz), 1e-9);
    auto g = top_logprobs(reduce_all(l, cuts, params(0.0f), 0, 0, 8), 5);
    ASSERT_EQ(g.size(), 1u);
    EXPECT_EQ(g[0].first, order[0]);
  }
}

// A row whose request wants no logprobs skips the log-sum-exp pass where nothing reads
// it (greedy, gumbel): the token is the one the full reduction gives, and the missing lse
// shows as NaN, never as a number. Filtered rows (top-p normalizes with it) and probed
// rows (sampled verification) compute it anyway.
TEST(SamplingMerge, WithoutLogprobsTheLsePassIsSkippedAndTheTokenIsTheSame) {
  const std::vector<float> l = tied_logits(1000, 9);
  for (const SamplingParams& p : {params(0.0f), params(0.9f, 0, 1.0f, 0.0f, 5), params(0.9f, 0, 0.8f, 0.0f, 5)}) {
    const bool filtered = p.mode() == SamplingMode::filtered;
    for (const auto& cuts : all_splits(1000))
      for (uint64_t step = 0; step < 20; ++step) {
        const auto full = reduce_all(l, cuts, p, 3, step, 16, true);
        const auto lean = reduce_all(l, cuts, p, 3, step, 16, false);
        ASSERT_EQ(merge_and_sample(lean, p, 3, step, nullptr), merge_and_sample(full, p, 3, step, nullptr));
        for (size_t r = 0; r < lean.size(); ++r) {
          if (lean[r].top.empty()) continue;  // an empty slice has no lse either way
          if (filtered) EXPECT_EQ(lean[r].lse, full[r].lse);
          else EXPECT_EQ(lean[r].lse, Candidates::kLseNotComputed);
        }
        if (filtered) EXPECT_EQ(merged_lse(lean), merged_lse(full));
        else EXPECT_TRUE(std::isnan(merged_lse(lean)));
        EXPECT_FALSE(std::isnan(merged_lse(full)));
      }
  }
  // A probed row computes it.
  const std::vector<int32_t> probe = {3, 500};
  const Candidates c = reduce_slice(l.data(), 0, 1000, params(0.9f, 0, 1.0f, 0.0f, 5), 3, 1, 16, 0, &probe, false);
  EXPECT_NEAR(c.lse, static_cast<double>(ref_lse(l, 0.9f)), 1e-6);
}
