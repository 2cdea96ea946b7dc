// Repetition / presence / frequency penalties: hand-computed tables (values chosen exact
// in binary floating point), which tokens count for which penalty, non-finite logits,
// and slice independence (any split of the vocab gives the full-vocab result).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "shardlm/sampling/candidates.h"
#include "shardlm/sampling/penalties.h"
#include "shardlm/sampling/sampling-params.h"

using namespace shardlm;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Logits of tokens 0..7 and a sequence: prompt {0, 1, 6}, generated {2, 2, 4, 0}.
// Token 0: prompt + generated once; 1: prompt only; 2: generated twice; 4: generated
// once; 6: prompt only, logit 0; 3, 5, 7: absent.
const std::vector<float> kLogits = {2.0f, -2.0f, 1.0f, 0.5f, -1.0f, 3.0f, 0.0f, -0.5f};

TokenCounts example_counts() {
  TokenCounts c;
  c.add_prompt({0, 1, 6});
  for (int32_t t : {2, 2, 4, 0}) c.add(t);
  return c;
}

SamplingParams params(float rep, float pres, float freq) {
  SamplingParams p;
  p.repetition_penalty = rep;
  p.presence_penalty = pres;
  p.frequency_penalty = freq;
  EXPECT_TRUE(p.validate().is_ok());
  return p;
}

std::vector<float> apply_full(const std::vector<float>& logits, const TokenCounts& c, const SamplingParams& p) {
  std::vector<float> v = logits;
  apply_penalties(v.data(), 0, static_cast<int32_t>(v.size()), c, p);
  return v;
}

}  // namespace

TEST(SamplingPenalties, TokenCounts) {
  TokenCounts c = example_counts();
  c.add(-1);         // ignored
  c.add_prompt(-5);  // ignored
  EXPECT_EQ(c.distinct(), 5u);
  EXPECT_EQ(c.n_generated(), 4u);
  EXPECT_EQ(c.generated(0), 1u);
  EXPECT_EQ(c.generated(1), 0u);
  EXPECT_EQ(c.generated(2), 2u);
  EXPECT_EQ(c.generated(3), 0u);
  EXPECT_TRUE(c.in_prompt(0));
  EXPECT_TRUE(c.in_prompt(6));
  EXPECT_FALSE(c.in_prompt(2));
  EXPECT_FALSE(c.in_prompt(99));
  ASSERT_EQ(c.entries().size(), 5u);  // order of first occurrence: 0 1 6 2 4
  EXPECT_EQ(c.entries()[0].token, 0);
  EXPECT_EQ(c.entries()[2].token, 6);
  EXPECT_EQ(c.entries()[3].token, 2);
  EXPECT_EQ(c.entries()[4].token, 4);
  c.clear();
  EXPECT_EQ(c.distinct(), 0u);
  EXPECT_EQ(c.n_generated(), 0u);
  EXPECT_EQ(c.generated(2), 0u);
}

TEST(SamplingPenalties, Active) {
  EXPECT_FALSE(penalties_active(SamplingParams{}));
  EXPECT_TRUE(penalties_active(params(1.1f, 0, 0)));
  EXPECT_TRUE(penalties_active(params(1, -0.5f, 0)));
  EXPECT_TRUE(penalties_active(params(1, 0, 0.25f)));
  // Neutral parameters leave every logit as it was.
  EXPECT_EQ(apply_full(kLogits, example_counts(), SamplingParams{}), kLogits);
}

TEST(SamplingPenalties, RepetitionCountsPromptAndOutput) {
  // r = 2: positive / 2, negative * 2, once per distinct token of prompt or output.
  //   tok 0:  2 -> 1;  tok 1: -2 -> -4;  tok 2: 1 -> 0.5 (twice generated, still once);
  //   tok 4: -1 -> -2; tok 6:  0 -> 0;   tokens 3, 5, 7 untouched.
  EXPECT_EQ(apply_full(kLogits, example_counts(), params(2, 0, 0)),
            (std::vector<float>{1.0f, -4.0f, 0.5f, 0.5f, -2.0f, 3.0f, 0.0f, -0.5f}));
  // r = 0.5 encourages repeats: tok 0: 4, tok 1: -1, tok 2: 2, tok 4: -0.5.
  EXPECT_EQ(apply_full(kLogits, example_counts(), params(0.5f, 0, 0)),
            (std::vector<float>{4.0f, -1.0f, 2.0f, 0.5f, -0.5f, 3.0f, 0.0f, -0.5f}));
}

TEST(SamplingPenalties, PresenceFrequencyCountOutputOnly) {
  // a_p = 0.5, a_f = 0.25: logit -= 0.25 * c + 0.5 * (c > 0), c = generated count.
  //   tok 0 (c 1): 2 - 0.75 = 1.25;  tok 1 (prompt only): -2;  tok 2 (c 2): 1 - 1 = 0;
  //   tok 4 (c 1): -1 - 0.75 = -1.75;  tok 6 (prompt only): 0.
  EXPECT_EQ(apply_full(kLogits, example_counts(), params(1, 0.5f, 0.25f)),
            (std::vector<float>{1.25f, -2.0f, 0.0f, 0.5f, -1.75f, 3.0f, 0.0f, -0.5f}));
  // Presence alone: -0.5 for tokens 0, 2, 4 whatever their count.
  EXPECT_EQ(apply_full(kLogits, example_counts(), params(1, 0.5f, 0)),
            (std::vector<float>{1.5f, -2.0f, 0.5f, 0.5f, -1.5f, 3.0f, 0.0f, -0.5f}));
  // Frequency alone, negative (encourages): += 0.5 * c: tok 0: 2.5, tok 2: 2, tok 4: -0.5.
  EXPECT_EQ(apply_full(kLogits, example_counts(), params(1, 0, -0.5f)),
            (std::vector<float>{2.5f, -2.0f, 2.0f, 0.5f, -0.5f, 3.0f, 0.0f, -0.5f}));
}

TEST(SamplingPenalties, RepetitionFirstThenAdditive) {
  // r = 2, a_p = 0.5, a_f = 0.25:
  //   tok 0: 2/2 - 0.75 = 0.25;  tok 1: -4;  tok 2: 1/2 - 1 = -0.5;  tok 4: -1*2 - 0.75 = -2.75.
  EXPECT_EQ(apply_full(kLogits, example_counts(), params(2, 0.5f, 0.25f)),
            (std::vector<float>{0.25f, -4.0f, -0.5f, 0.5f, -2.75f, 3.0f, 0.0f, -0.5f}));
  // The other order would give tok 0: (2 - 0.75) / 2 = 0.625: the order is observable.
}

TEST(SamplingPenalties, NonFiniteLogits) {
  std::vector<float> v = {-kInf, kInf, std::nanf(""), 1.0f};
  TokenCounts c;
  for (int32_t t : {0, 1, 2, 3}) c.add(t);
  apply_full(v, c, params(2, 0.5f, 0.5f)).swap(v);
  EXPECT_EQ(v[0], -kInf);  // a masked token stays masked
  EXPECT_EQ(v[1], kInf);
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_EQ(v[3], -0.5f);  // 1/2 - 1
}

TEST(SamplingPenalties, OnlyTheSliceIsTouched) {
  // Slice [3, 6) of the example vocabulary, with sentinels on both sides of the buffer.
  std::vector<float> buf = {99.0f, kLogits[3], kLogits[4], kLogits[5], 99.0f};
  apply_penalties(buf.data() + 1, 3, 3, example_counts(), params(2, 0.5f, 0.25f));
  EXPECT_EQ(buf, (std::vector<float>{99.0f, 0.5f, -2.75f, 3.0f, 99.0f}));
  // n == 0 and a slice past every token are no-ops.
  apply_penalties(buf.data(), 0, 0, example_counts(), params(2, 0.5f, 0.25f));
  apply_penalties(buf.data(), 1000, 5, example_counts(), params(2, 0.5f, 0.25f));
  EXPECT_EQ(buf, (std::vector<float>{99.0f, 0.5f, -2.75f, 3.0f, 99.0f}));
}

TEST(SamplingPenalties, SlicesMatchFullVocabulary) {
  constexpr int32_t V = 1000;
  std::mt19937 g(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(V);
  for (auto& x : logits) x = normal(g);
  TokenCounts c;
  std::uniform_int_distribution<int32_t> tok(0, V - 1);
  for (int i = 0; i < 120; ++i) c.add_prompt(tok(g));
  for (int i = 0; i < 200; ++i) c.add(tok(g) % 50);  // many repeats among the first 50 ids
  c.add(0);
  c.add(V - 1);  // the ends of the vocabulary
  for (const SamplingParams& p : {params(1.3f, 0, 0), params(1, 0.7f, 0.3f), params(0.8f, -1.0f, 1.5f)}) {
    const std::vector<float> full = apply_full(logits, c, p);
    // Reference written per vocab entry (the O(V) way), same formula.
    for (int32_t t = 0; t < V; ++t) {
      float want = logits[static_cast<size_t>(t)];
      if (c.in_prompt(t) || c.generated(t) > 0) want = want > 0 ? want / p.repetition_penalty : want * p.repetition_penalty;
      const uint32_t n = c.generated(t);
      if (n > 0)
        want = static_cast<float>(static_cast<double>(want) -
                                  (static_cast<double>(p.frequency_penalty) * n + static_cast<double>(p.presence_penalty)));
      ASSERT_EQ(full[static_cast<size_t>(t)], want) << "token " << t;
    }
    // Uneven splits into 1..5 slices, empty slices included: concatenation == full.
    for (const std::vector<int32_t>& cuts : std::vector<std::vector<int32_t>>{
             {0, V}, {0, 500, V}, {0, 1, 999, V}, {0, 0, 37, 37, 600, V}, {0, 333, 334, 998, 999, V}}) {
      std::vector<float> out;
      for (size_t s = 0; s + 1 < cuts.size(); ++s) {
        std::vector<float> slice(logits.begin() + cuts[s], logits.begin() + cuts[s + 1]);
        apply_penalties(slice.data(), cuts[s], static_cast<int32_t>(slice.size()), c, p);
        out.insert(out.end(), slice.begin(), slice.end());
      }
      EXPECT_EQ(out, full);
    }
  }
}

TEST(SamplingPenalties, ChangesTheGreedyChoice) {
  // Token 1 leads (3.0 vs 2.75) until it has been generated once with a_f = 0.5.
  std::vector<float> v = {2.75f, 3.0f, -1.0f};
  SamplingParams p = params(1, 0, 0.5f);
  p.temperature = 0;  // greedy: penalties apply all the same
  EXPECT_EQ(reduce_slice(v.data(), 0, 3, p, 0, 0, 4).top[0].first, 1);
  TokenCounts c;
  c.add(1);
  apply_penalties(v.data(), 0, 3, c, p);
  EXPECT_EQ(v[1], 2.5f);
  EXPECT_EQ(reduce_slice(v.data(), 0, 3, p, 0, 0, 4).top[0].first, 0);
}
