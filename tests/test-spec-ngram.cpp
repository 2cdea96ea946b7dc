// The n-gram proposer: hand-checked tables of what follows the most recent earlier
// occurrence of the longest recurring suffix.
#include <gtest/gtest.h>

#include "shardlm/spec/ngram-proposer.h"

using namespace shardlm;

TEST(NgramProposer, LongestSuffixMostRecentOccurrence) {
  // ... 1 2 3 [4 5 6] ... 9 1 2 3 [7 8] ... 1 2 3 : the last "1 2 3" was followed by 7 8.
  const std::vector<int32_t> t = {1, 2, 3, 4, 5, 6, 9, 1, 2, 3, 7, 8, 0, 1, 2, 3};
  EXPECT_EQ(ngram_propose(t, 1, 4, 5), (std::vector<int32_t>{7, 8, 0, 1, 2}));
  EXPECT_EQ(ngram_propose(t, 1, 4, 2), (std::vector<int32_t>{7, 8}));
  // "0 1 2 3" never recurs; n = 3 matches. With n_min = n_max = 4 nothing is proposed.
  EXPECT_TRUE(ngram_propose(t, 4, 4, 5).empty());
}

TEST(NgramProposer, ShorterSuffixWhenTheLongOneIsNew) {
  const std::vector<int32_t> t = {5, 6, 7, 1, 9, 9, 7};  // only "7" recurs: followed by 1 9 9
  EXPECT_EQ(ngram_propose(t, 1, 3, 3), (std::vector<int32_t>{1, 9, 9}));
  EXPECT_TRUE(ngram_propose(t, 2, 3, 3).empty());
}

TEST(NgramProposer, ProposalStopsAtTheEndAndEdgeCases) {
  const std::vector<int32_t> t = {4, 4, 4};  // "4 4" at 0 is followed by 4 (the end)
  EXPECT_EQ(ngram_propose(t, 1, 2, 5), (std::vector<int32_t>{4}));
  EXPECT_TRUE(ngram_propose({}, 1, 4, 5).empty());
  EXPECT_TRUE(ngram_propose({1}, 1, 4, 5).empty());
  EXPECT_TRUE(ngram_propose(t, 1, 2, 0).empty());
}
