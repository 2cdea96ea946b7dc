// GrammarHost (engine/grammar-host.h): requests with the same grammar key share one mask
// computer (and its cache), a new tokenizer rebuilds the trie, accept() refuses what the
// mask refuses, and the recorded mask times give quantiles within the recorded range.
#include <gtest/gtest.h>

#include "shardlm/engine/grammar-host.h"
#include "stories-tokenizer.h"

using namespace shardlm;

TEST(GrammarHost, SharesComputersByKeyAndAdvancesStates) {
  std::shared_ptr<const Tokenizer> tok = stories_tokenizer();
  if (!tok) GTEST_SKIP() << "stories260K tokenizer not found (../shared absent)";
  auto g = grammar::compile(nlohmann::json::parse(R"({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]})"));
  ASSERT_TRUE(g) << g.message();
  GrammarHost host;
  RequestGrammar a = host.start(g.value(), "k1", tok);
  RequestGrammar b = host.start(g.value(), "k1", tok);
  RequestGrammar c = host.start(g.value(), "k2", tok);
  EXPECT_EQ(a.masker.get(), b.masker.get()) << "one computer per key";
  EXPECT_NE(a.masker.get(), c.masker.get());
  // Walk a's state with the first allowed token each time until the document is finished.
  int steps = 0;
  std::string doc;
  while (!a.state.is_finished() && steps < 64) {
    const grammar::TokenMask m = host.mask(a);
    int32_t pick = -1, refused = -1;
    for (int32_t id = 0; id < tok->n_vocab(); ++id) {
      if (grammar::mask_allows(m, id)) {
        if (pick < 0 && !tok->is_eog(id)) pick = id;
      } else if (refused < 0) {
        refused = id;
      }
    }
    ASSERT_GE(pick, 0) << "no token allowed after " << doc;
    if (refused >= 0) {
      EXPECT_FALSE(host.accept(a, refused)) << "a token outside the mask is refused";
    }
    ASSERT_TRUE(host.accept(a, pick));
    doc += tok->token_piece(pick);
    ++steps;
  }
  EXPECT_TRUE(a.state.is_finished()) << doc;
  EXPECT_TRUE(nlohmann::json::parse(doc, nullptr, false).is_object()) << doc;
  (void)host.mask(b);  // b's first mask is a's first: a cache hit
  const GrammarStats st = host.stats();
  EXPECT_EQ(st.requests, 3u);
  EXPECT_EQ(st.masks, static_cast<uint64_t>(steps) + 1);
  EXPECT_GE(st.cache_hits, 1u);
  EXPECT_LE(st.mask_p50_ms, st.mask_p99_ms);
  EXPECT_LE(st.mask_p99_ms, st.mask_max_ms + 1e-3);  // bucket upper edges: within 1 µs of the maximum
  EXPECT_GT(st.mask_max_ms, 0.0);
  // Another tokenizer object: the trie is rebuilt and the old computers are dropped.
  std::shared_ptr<const Tokenizer> tok2 = stories_tokenizer();
  RequestGrammar d = host.start(g.value(), "k1", tok2);
  EXPECT_NE(d.masker.get(), a.masker.get());
}
