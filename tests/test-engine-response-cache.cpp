// ResponseCache: store and replay, joining a flight, cancel only when every client has
// gone, LRU within the byte budget, TTL, model generations, Cache-Control no-cache.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "shardlm/engine/response-cache.h"

namespace shardlm {
namespace {

RequestEvent text_event(const std::string& t) {
  RequestEvent e;
  e.text = t;
  return e;
}

RequestEvent done_event(FinishReason why = FinishReason::stop) {
  RequestEvent e;
  e.done = true;
  e.finish = why;
  e.usage = {10, 3, 2};
  return e;
}

std::vector<RequestEvent> drain(ResultQueue& q) {
  std::vector<RequestEvent> out;
  q.drain([&](RequestEvent&& e) { out.push_back(std::move(e)); });
  return out;
}

std::string texts(const std::vector<RequestEvent>& ev) {
  std::string s;
  for (const auto& e : ev) s += e.text + (e.done ? "|done" : "") + ",";
  return s;
}

ResponseCacheOptions opts(double mb = 1, double ttl = 600) {
  ResponseCacheOptions o;
  o.max_mb = mb;
  o.ttl_s = ttl;
  return o;
}

// A miss whose upstream gets the given events, as the engine thread would push them.
void compute(ResponseCache& c, const std::string& key, const std::vector<RequestEvent>& events,
             std::shared_ptr<ResultQueue> out = std::make_shared<ResultQueue>(), uint64_t gen = 1) {
  auto t = c.open(key, gen, out);
  ASSERT_EQ(t.outcome, ResponseCache::Outcome::miss);
  c.started(t.flight, 7, [](uint64_t) {});
  for (const auto& e : events) t.upstream->push(e);
}

TEST(ResponseCache, OffWhenTheBudgetIsZero) {
  ResponseCache c(opts(0), nullptr);
  EXPECT_FALSE(c.enabled());
  EXPECT_TRUE(ResponseCache(opts(0.5), nullptr).enabled());
}

TEST(ResponseCache, StoresACompleteAnswerAndReplaysTheSameEvents) {
  ResponseCache c(opts(), nullptr);
  auto leader = std::make_shared<ResultQueue>();
  compute(c, "k", {text_event("Once"), text_event(" upon"), done_event()}, leader);
  auto first = drain(*leader);
  EXPECT_EQ(texts(first), "Once, upon,|done,");
  EXPECT_EQ(first.back().usage.cached_tokens, 2);  // the computing request's own usage

  auto again = std::make_shared<ResultQueue>();
  auto t = c.open("k", 1, again);
  EXPECT_EQ(t.outcome, ResponseCache::Outcome::hit);
  auto replay = drain(*again);
  EXPECT_EQ(texts(replay), texts(first));  // same events, same boundaries
  EXPECT_EQ(replay.back().usage.prompt_tokens, 10);
  EXPECT_EQ(replay.back().usage.completion_tokens, 3);
  EXPECT_EQ(replay.back().usage.cached_tokens, 10);  // nothing was computed
  auto s = c.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.in_flight, 0u);
}

TEST(ResponseCache, KeysAreComparedWhole) {
  ResponseCache c(opts(), nullptr);
  compute(c, "prompt 1 2 3", {text_event("a"), done_event()});
  for (const char* other : {"prompt 1 2 3 ", "prompt 1 2 4", "prompt 1 2", ""}) {
    auto q = std::make_shared<ResultQueue>();
    EXPECT_EQ(c.open(other, 1, q).outcome, ResponseCache::Outcome::miss) << other;
  }
}

TEST(ResponseCache, ErrorsTimeoutsAndCancelsAreNotStored) {
  ResponseCache c(opts(), nullptr);
  RequestEvent err = done_event(FinishReason::error);
  err.error = {ErrorKind::internal, "no finite logit"};
  compute(c, "e", {text_event("x"), err});
  compute(c, "t", {text_event("x"), done_event(FinishReason::timeout)});
  compute(c, "a", {text_event("x"), done_event(FinishReason::abort)});
  EXPECT_EQ(c.stats().entries, 0u);
  compute(c, "l", {text_event("x"), done_event(FinishReason::length)});
  EXPECT_EQ(c.stats().entries, 1u);
}

TEST(ResponseCache, IdenticalRequestsInFlightShareOneComputation) {
  ResponseCache c(opts(), nullptr);
  auto a = std::make_shared<ResultQueue>();
  auto ta = c.open("k", 1, a);
  ASSERT_EQ(ta.outcome, ResponseCache::Outcome::miss);
  int cancels = 0;
  c.started(ta.flight, 42, [&](uint64_t id) {
    EXPECT_EQ(id, 42u);
    ++cancels;
  });
  ta.upstream->push(text_event("one"));
  auto b = std::make_shared<ResultQueue>();
  auto tb = c.open("k", 1, b);
  EXPECT_EQ(tb.outcome, ResponseCache::Outcome::coalesced);
  EXPECT_EQ(tb.flight, ta.flight);
  EXPECT_EQ(tb.upstream, nullptr);  // nothing to submit
  ta.upstream->push(text_event(" two"));
  ta.upstream->push(done_event());
  EXPECT_EQ(texts(drain(*a)), "one, two,|done,");
  auto got_b = drain(*b);
  EXPECT_EQ(texts(got_b), "one, two,|done,");  // the events before it joined, then the rest
  EXPECT_EQ(got_b.back().usage.cached_tokens, 10);
  EXPECT_EQ(cancels, 0);
  EXPECT_EQ(c.stats().coalesced, 1u);
  EXPECT_EQ(c.stats().in_flight, 0u);
}

TEST(ResponseCache, TheEngineRequestIsCancelledOnlyWhenEveryClientHasGone) {
  ResponseCache c(opts(), nullptr);
  auto a = std::make_shared<ResultQueue>(), b = std::make_shared<ResultQueue>();
  auto ta = c.open("k", 1, a);
  int cancels = 0;
  c.started(ta.flight, 5, [&](uint64_t) { ++cancels; });
  ASSERT_EQ(c.open("k", 1, b).outcome, ResponseCache::Outcome::coalesced);
  c.leave(ta.flight, a.get());
  EXPECT_EQ(cancels, 0);  // b still waits for the answer
  ta.upstream->push(text_event("still"));
  EXPECT_EQ(texts(drain(*b)), "still,");
  c.leave(ta.flight, b.get());
  EXPECT_EQ(cancels, 1);
  // A new identical request does not join the computation being cancelled.
  auto d = std::make_shared<ResultQueue>();
  EXPECT_EQ(c.open("k", 1, d).outcome, ResponseCache::Outcome::miss);
  ta.upstream->push(done_event(FinishReason::abort));
}

TEST(ResponseCache, ClientsGoneBeforeTheEngineRequestIsKnownCancelAtStart) {
  ResponseCache c(opts(), nullptr);
  auto a = std::make_shared<ResultQueue>();
  auto t = c.open("k", 1, a);
  c.leave(t.flight, a.get());
  int cancels = 0;
  c.started(t.flight, 9, [&](uint64_t) { ++cancels; });
  EXPECT_EQ(cancels, 1);
}

TEST(ResponseCache, NoCacheComputesAfreshAndRefreshesTheStore) {
  ResponseCache c(opts(), nullptr);
  compute(c, "k", {text_event("old"), done_event()});
  auto q = std::make_shared<ResultQueue>();
  auto t = c.open("k", 1, q, /*read=*/false);
  ASSERT_EQ(t.outcome, ResponseCache::Outcome::miss);
  // Not joinable while it computes.
  auto other = std::make_shared<ResultQueue>();
  EXPECT_EQ(c.open("k", 1, other).outcome, ResponseCache::Outcome::hit);
  EXPECT_EQ(texts(drain(*other)), "old,|done,");
  t.upstream->push(text_event("new"));
  t.upstream->push(done_event());
  auto after = std::make_shared<ResultQueue>();
  EXPECT_EQ(c.open("k", 1, after).outcome, ResponseCache::Outcome::hit);
  EXPECT_EQ(texts(drain(*after)), "new,|done,");
}

TEST(ResponseCache, AnotherModelGenerationEmptiesTheCache) {
  ResponseCache c(opts(), nullptr);
  compute(c, "k", {text_event("a"), done_event()});
  ASSERT_EQ(c.stats().entries, 1u);
  auto q = std::make_shared<ResultQueue>();
  EXPECT_EQ(c.open("k", 2, q).outcome, ResponseCache::Outcome::miss);
  EXPECT_EQ(c.stats().entries, 0u);
  // A flight of an old generation finishes unstored.
  auto q2 = std::make_shared<ResultQueue>();
  auto t = c.open("j", 2, q2);
  c.sync_generation(3);
  t.upstream->push(done_event());
  EXPECT_EQ(c.stats().entries, 0u);
}

TEST(ResponseCache, EvictsLeastRecentlyUsedWithinTheBudget) {
  // Each answer is ~1.4 KiB with its bookkeeping; a 5 KiB budget holds three of them.
  ResponseCache c(opts(5.0 / 1024), nullptr);
  const std::string kb(1000, 'x');
  for (const char* k : {"a", "b", "c"}) compute(c, k, {text_event(kb), done_event()});
  auto s = c.stats();
  EXPECT_LE(s.bytes, 5120u);
  EXPECT_EQ(s.entries, 3u);
  auto q = std::make_shared<ResultQueue>();
  EXPECT_EQ(c.open("a", 1, q).outcome, ResponseCache::Outcome::hit);  // a is now the most recent
  compute(c, "d", {text_event(kb), done_event()});
  s = c.stats();
  EXPECT_LE(s.bytes, 5120u);
  EXPECT_GE(s.evictions, 1u);
  auto qb = std::make_shared<ResultQueue>(), qa = std::make_shared<ResultQueue>();
  EXPECT_EQ(c.open("a", 1, qa).outcome, ResponseCache::Outcome::hit);
  EXPECT_EQ(c.open("b", 1, qb).outcome, ResponseCache::Outcome::miss);  // the least recent went first
  // An answer larger than the whole budget is not stored.
  compute(c, "huge", {text_event(std::string(8000, 'y')), done_event()});
  auto qh = std::make_shared<ResultQueue>();
  EXPECT_EQ(c.open("huge", 1, qh).outcome, ResponseCache::Outcome::miss);
}

TEST(ResponseCache, ExpiredAnswersAreNotServed) {
  ResponseCache c(opts(1, 0.05), nullptr);
  compute(c, "k", {text_event("a"), done_event()});
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  auto q = std::make_shared<ResultQueue>();
  EXPECT_EQ(c.open("k", 1, q).outcome, ResponseCache::Outcome::miss);
  EXPECT_EQ(c.stats().expired, 1u);
}

TEST(ResponseCache, ManyThreadsJoiningWhileTheEngineStreams) {
  ResponseCache c(opts(), nullptr);
  auto lead = std::make_shared<ResultQueue>();
  auto t = c.open("k", 1, lead);
  c.started(t.flight, 1, [](uint64_t) {});
  std::vector<std::shared_ptr<ResultQueue>> qs(16);
  std::vector<std::thread> th;
  for (auto& q : qs) {
    q = std::make_shared<ResultQueue>();
    th.emplace_back([&c, q] { c.open("k", 1, q); });
  }
  std::string want;
  for (int i = 0; i < 200; ++i) {
    t.upstream->push(text_event(std::to_string(i)));
    want += std::to_string(i) + ",";
  }
  for (auto& x : th) x.join();
  t.upstream->push(done_event());
  want += "|done,";
  for (auto& q : qs) EXPECT_EQ(texts(drain(*q)), want);  // each got every event once, in order
}

}  // namespace
}  // namespace shardlm
