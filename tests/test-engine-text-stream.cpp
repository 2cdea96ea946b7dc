// Stop strings over streamed text, with a real vocabulary (stories260K's llama2.c tokenizer).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "shardlm/engine/text-stream.h"

#include "stories-tokenizer.h"

using namespace shardlm;

namespace {

// Streams ids through a TextStream: the concatenated deltas and whether it stopped.
std::pair<std::string, bool> run(const Tokenizer& t, const std::vector<int32_t>& ids, std::vector<std::string> stop) {
  TextStream ts(t, std::move(stop));
  std::string out;
  for (auto id : ids) {
    auto d = ts.push(id);
    out += d.text;
    if (d.stopped) return {out, true};
  }
  return {out + ts.flush(), false};
}

}  // namespace

TEST(TextStream, StopStringsAcrossTokens) {
  auto t = stories_tokenizer();
  if (!t) GTEST_SKIP() << "stories260K tokenizer not found (set SHARDLM_SHARED)";
  const std::string text = "Once upon a time, there was a little girl named Lily.";
  auto ids = t->encode(text, false, false);
  ASSERT_GT(ids.size(), 10u);
  const std::string full = t->decode(ids);
  EXPECT_EQ(run(*t, ids, {}), std::make_pair(full, false));
  // A stop string that spans several tokens: everything before it, nothing after.
  auto pos = full.find("little girl");
  ASSERT_NE(pos, std::string::npos);
  EXPECT_EQ(run(*t, ids, {"little girl"}), std::make_pair(full.substr(0, pos), true));
  // The earliest of several stop strings wins.
  auto p2 = full.find(", there");
  EXPECT_EQ(run(*t, ids, {"Lily", ", there"}), std::make_pair(full.substr(0, p2), true));
  // A stop string that never completes is released at the end.
  EXPECT_EQ(run(*t, ids, {"Lily!"}), std::make_pair(full, false));
  EXPECT_EQ(run(*t, ids, {""}), std::make_pair(full, false)) << "empty stop strings are ignored";
}

TEST(TextStream, HoldsBackOnlyPossibleStopPrefixes) {
  auto t = stories_tokenizer();
  if (!t) GTEST_SKIP() << "stories260K tokenizer not found (set SHARDLM_SHARED)";
  auto ids = t->encode("Once upon a time", false, false);
  TextStream ts(*t, {"time to go"});
  std::string out;
  for (auto id : ids) out += ts.push(id).text;
  // "time" could begin the stop string: not sent yet.
  EXPECT_EQ(out, t->decode(ids).substr(0, t->decode(ids).size() - 4));
  EXPECT_EQ(out + ts.flush(), t->decode(ids));
}
