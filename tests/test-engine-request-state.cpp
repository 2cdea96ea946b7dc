// LiveRequest: how sampled tokens end a request (end-of-generation ids, stop token ids,
// ignore_eos, stop strings, max_tokens) and what the events carry, with a real
// vocabulary (stories260K's llama2.c tokenizer).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "shardlm/engine/request-state.h"

#include "stories-tokenizer.h"

using namespace shardlm;

namespace {

struct Outcome {
  std::string text;
  std::vector<RequestEvent> events;
  FinishReason why = FinishReason::none;
  int taken = 0;  // tokens fed before the request ended
};

// Feeds ids until the request ends; then the final event as the engine sends it.
Outcome feed(const Tokenizer& t, EngineRequest in, const std::vector<int32_t>& ids) {
  in.prompt = {t.bos_id()};
  in.results = std::make_shared<ResultQueue>();
  LiveRequest r;
  r.in = in;
  r.start(t);
  Outcome out;
  for (auto id : ids) {
    ++out.taken;
    out.why = r.take_token(TokenOut{id, -0.5f, {}}, t.eos_ids());
    if (out.why != FinishReason::none) break;
  }
  r.seq->state = SeqState::finished;
  r.send_final(out.why == FinishReason::none ? FinishReason::length : out.why, {});
  while (auto e = in.results->pop(0)) {
    out.text += e->text;
    out.events.push_back(std::move(*e));
  }
  return out;
}

// The text a request streams for these ids (a decoder that continues a prompt).
std::string stream_text(const Tokenizer& t, const std::vector<int32_t>& ids) {
  StreamDecoder d(t);
  std::string out;
  for (auto id : ids) out += d.push(id);
  return out + d.flush();
}

}  // namespace

TEST(LiveRequest, EndsOnEosStopTokenStopStringAndLength) {
  auto t = stories_tokenizer();
  if (!t) GTEST_SKIP() << "stories260K tokenizer not found (set SHARDLM_SHARED)";
  const auto ids = t->encode("Once upon a time, there was a girl.", false, false);
  ASSERT_GE(ids.size(), 6u);
  const int32_t eos = t->eos_ids().at(0);
  std::vector<int32_t> with_eos(ids.begin(), ids.begin() + 3);
  with_eos.push_back(eos);
  with_eos.push_back(ids[3]);

  EngineRequest base;
  base.max_tokens = 100;
  // End-of-generation: stops, not shown, counted; the final event names the token.
  Outcome a = feed(*t, base, with_eos);
  EXPECT_EQ(a.why, FinishReason::stop);
  EXPECT_EQ(a.taken, 4);
  EXPECT_EQ(a.text, stream_text(*t, {ids[0], ids[1], ids[2]}));
  ASSERT_TRUE(a.events.back().done);
  EXPECT_EQ(a.events.back().stop_token, eos);
  EXPECT_EQ(a.events.back().usage.completion_tokens, 4);
  EXPECT_EQ(a.events.back().usage.prompt_tokens, 1);

  // ignore_eos: the same ids run on to max_tokens.
  EngineRequest ig = base;
  ig.ignore_eos = true;
  ig.max_tokens = 5;
  Outcome b = feed(*t, ig, with_eos);
  EXPECT_EQ(b.why, FinishReason::length);
  EXPECT_EQ(b.taken, 5);
  EXPECT_EQ(b.events.back().stop_token, -1);

  // stop_token_ids stop even with ignore_eos.
  EngineRequest st = ig;
  st.stop_token_ids = {ids[2]};
  Outcome c = feed(*t, st, ids);
  EXPECT_EQ(c.why, FinishReason::stop);
  EXPECT_EQ(c.taken, 3);
  EXPECT_EQ(c.events.back().stop_token, ids[2]);

  // A stop string: the text ends right before it; the final event names it.
  EngineRequest ss = base;
  ss.stop = {"there"};
  Outcome d = feed(*t, ss, ids);
  EXPECT_EQ(d.why, FinishReason::stop);
  const std::string full = stream_text(*t, ids);
  ASSERT_NE(full.find("there"), std::string::npos);
  EXPECT_EQ(d.text, full.substr(0, full.find("there")));
  EXPECT_EQ(d.events.back().stop_string, "there");

  // max_tokens: length, with the held-back text flushed in the final event.
  EngineRequest len = base;
  len.max_tokens = 2;
  Outcome e = feed(*t, len, ids);
  EXPECT_EQ(e.why, FinishReason::length);
  EXPECT_EQ(e.taken, 2);
  EXPECT_EQ(e.text, stream_text(*t, {ids[0], ids[1]}));

  // logprobs: one event per token with its id and logprob.
  EngineRequest lp = len;
  lp.logprobs = true;
  Outcome f = feed(*t, lp, ids);
  int n_tok = 0;
  for (const auto& ev : f.events)
    for (const auto& to : ev.tokens) {
      EXPECT_EQ(to.id, ids[n_tok++]);
      EXPECT_FLOAT_EQ(to.logprob, -0.5f);
    }
  EXPECT_EQ(n_tok, 2);
}

TEST(LiveRequest, DeadlinesAndRejection) {
  EngineOptions o;
  o.request_timeout_s = 10;
  o.first_token_timeout_s = 2;
  LiveRequest r;
  r.arrived = LiveRequest::Clock::now();
  EXPECT_FALSE(r.deadline_passed(r.arrived + std::chrono::seconds(1), o));
  auto e = r.deadline_passed(r.arrived + std::chrono::seconds(3), o);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, ErrorKind::timeout);
  EXPECT_NE(e->message.find("--first-token-timeout-s"), std::string::npos);
  r.got_first = true;
  EXPECT_FALSE(r.deadline_passed(r.arrived + std::chrono::seconds(3), o));
  e = r.deadline_passed(r.arrived + std::chrono::seconds(11), o);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("--request-timeout-s"), std::string::npos);

  EngineRequest q;
  q.prompt = {1, 2, 3};
  q.results = std::make_shared<ResultQueue>();
  reject_request(q, ErrorKind::rate_limited, "busy");
  auto ev = q.results->pop(0);
  ASSERT_TRUE(ev);
  EXPECT_TRUE(ev->done);
  EXPECT_EQ(ev->finish, FinishReason::error);
  EXPECT_EQ(ev->error.kind, ErrorKind::rate_limited);
  EXPECT_EQ(ev->usage.prompt_tokens, 3);
}
