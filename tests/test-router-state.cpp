// The router's state machines with explicit time: circuit breaker, retry budget and
// backoff, session registry TTL/LRU, backend choice under load bounds, passive load signals.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "shardlm/router/backend.h"
#include "shardlm/router/balancer.h"
#include "shardlm/router/breaker.h"
#include "shardlm/router/retry.h"
#include "shardlm/router/session-registry.h"

using namespace shardlm::router;

TEST(Breaker, OpensAfterConsecutiveFailuresAndProbesAfterCooldown) {
  BreakerOptions o;
  o.consecutive_failures = 3;
  o.error_rate = 0;
  o.cooldown_s = 5;
  CircuitBreaker b(o);
  EXPECT_TRUE(b.allow(0));
  b.on_failure(0.1);
  b.on_failure(0.2);
  EXPECT_EQ(b.state(), BreakerState::closed);
  b.on_success(0.3);  // the streak resets
  b.on_failure(0.4);
  b.on_failure(0.5);
  EXPECT_EQ(b.state(), BreakerState::closed);
  b.on_failure(0.6);
  EXPECT_EQ(b.state(), BreakerState::open);
  EXPECT_EQ(b.opened(), 1u);
  EXPECT_FALSE(b.available(3.0));
  EXPECT_FALSE(b.allow(5.5));  // 0.6 + 5 = 5.6
  EXPECT_TRUE(b.available(5.7));
  EXPECT_TRUE(b.allow(5.7));   // the probe
  EXPECT_EQ(b.state(), BreakerState::half_open);
  EXPECT_FALSE(b.allow(5.8));  // one probe at a time
  EXPECT_FALSE(b.available(5.8));
  b.on_failure(6.0);           // probe failed: open again, cool-down from now
  EXPECT_EQ(b.state(), BreakerState::open);
  EXPECT_EQ(b.opened(), 2u);
  EXPECT_FALSE(b.allow(10.9));
  EXPECT_TRUE(b.allow(11.1));
  b.on_success(11.2);
  EXPECT_EQ(b.state(), BreakerState::closed);
  EXPECT_TRUE(b.allow(11.3));
  EXPECT_TRUE(b.allow(11.3));  // closed: no probe limit
}

TEST(Breaker, ReleasedProbeLetsTheNextOneGo) {
  BreakerOptions o;
  o.consecutive_failures = 1;
  o.cooldown_s = 1;
  CircuitBreaker b(o);
  b.on_failure(0);
  EXPECT_TRUE(b.allow(2));
  EXPECT_FALSE(b.allow(2));
  b.release_probe();
  EXPECT_TRUE(b.allow(2));
}

TEST(Breaker, OpensOnErrorRateOverWindow) {
  BreakerOptions o;
  o.consecutive_failures = 0;  // only the rate
  o.error_rate = 0.5;
  o.window_min_requests = 10;
  o.window_s = 10;
  CircuitBreaker b(o);
  // Alternating outcomes: the share reaches 50 % once 10 outcomes are in the window.
  double t = 0;
  for (int i = 0; i < 9; ++i, t += 0.1) {
    if (i % 2) b.on_failure(t);
    else b.on_success(t);
  }
  EXPECT_EQ(b.state(), BreakerState::closed);  // 9 outcomes: too few
  b.on_failure(t);                              // 5 of 10
  EXPECT_EQ(b.state(), BreakerState::open);

  CircuitBreaker c(o);
  // Old failures leave the window: 5 failures at t=0, then 10 successes 20 s later.
  for (int i = 0; i < 5; ++i) c.on_failure(0);
  for (int i = 0; i < 6; ++i) c.on_success(20);
  c.on_failure(20.5);  // 1 of 7 in the window
  EXPECT_EQ(c.state(), BreakerState::closed);
}

TEST(Retry, BackoffDoublesIsCappedAndJittered) {
  RetryOptions o;
  o.backoff_base_s = 0.1;
  o.backoff_max_s = 0.5;
  EXPECT_DOUBLE_EQ(backoff_delay(o, 1, 0.0), 0.05);
  EXPECT_DOUBLE_EQ(backoff_delay(o, 1, 1.0), 0.1);
  EXPECT_DOUBLE_EQ(backoff_delay(o, 2, 1.0), 0.2);
  EXPECT_DOUBLE_EQ(backoff_delay(o, 3, 1.0), 0.4);
  EXPECT_DOUBLE_EQ(backoff_delay(o, 4, 1.0), 0.5);  // capped
  EXPECT_DOUBLE_EQ(backoff_delay(o, 40, 0.0), 0.25);
  for (double u : {0.0, 0.3, 0.7, 0.999}) {
    const double d = backoff_delay(o, 2, u);
    EXPECT_GE(d, 0.1);
    EXPECT_LT(d, 0.2 + 1e-12);
  }
}

TEST(Retry, BudgetLimitsRetriesToAShareOfRequests) {
  RetryOptions o;
  o.ratio = 0.1;
  o.min_per_s = 0;  // no time refill: only requests earn retries
  o.cap = 5;
  o.cap = 1;
  RetryBudget b(o, 0);  // starts full: one token
  EXPECT_TRUE(b.try_spend(0));
  EXPECT_FALSE(b.try_spend(0));
  for (int i = 0; i < 10; ++i) b.on_request(0);  // 10 requests → 1 retry
  EXPECT_TRUE(b.try_spend(0));
  EXPECT_FALSE(b.try_spend(0));
  RetryBudget b5(RetryOptions{.ratio = 0.1, .min_per_s = 0, .cap = 5}, 0);
  int n = 0;
  while (b5.try_spend(0)) ++n;
  EXPECT_EQ(n, 5);  // starts full
  for (int i = 0; i < 1000; ++i) b5.on_request(0);  // capped at 5
  n = 0;
  while (b5.try_spend(0)) ++n;
  EXPECT_EQ(n, 5);

  RetryOptions t;
  t.ratio = 0;
  t.min_per_s = 2;
  t.cap = 4;
  RetryBudget r(t, 100);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.try_spend(100));
  EXPECT_FALSE(r.try_spend(100));
  EXPECT_FALSE(r.try_spend(100.4));  // 0.8 tokens
  EXPECT_TRUE(r.try_spend(100.6));   // 1.2
  EXPECT_NEAR(r.tokens(200), 4.0, 1e-9);  // capped
}

TEST(Sessions, TtlRefreshAndExpiry) {
  SessionRegistry s(10, 100);
  s.put("a", "http://x:1", 0);
  s.put("b", "http://y:2", 0);
  EXPECT_EQ(s.find("a", 5).value(), "http://x:1");  // refreshes a to t=5
  EXPECT_EQ(s.size(5), 2u);
  EXPECT_FALSE(s.find("b", 10.5).has_value());       // b last used at 0
  EXPECT_EQ(s.find("a", 14.9).value(), "http://x:1");
  EXPECT_FALSE(s.find("a", 25).has_value());
  EXPECT_EQ(s.size(25), 0u);
  s.put("c", "http://x:1", 30);
  s.put("c", "http://y:2", 31);  // rebound
  EXPECT_EQ(s.find("c", 32).value(), "http://y:2");
}

TEST(Sessions, LruBoundAndDropBackend) {
  SessionRegistry s(1000, 3);
  s.put("a", "A", 0);
  s.put("b", "B", 1);
  s.put("c", "A", 2);
  ASSERT_TRUE(s.find("a", 3).has_value());  // a is now the most recent
  s.put("d", "B", 4);                       // evicts b, the least recently used
  EXPECT_FALSE(s.find("b", 5).has_value());
  EXPECT_EQ(s.size(5), 3u);
  EXPECT_EQ(s.size(5, "A"), 2u);
  EXPECT_EQ(s.drop_backend("A"), 2u);
  EXPECT_FALSE(s.find("a", 6).has_value());
  EXPECT_EQ(s.find("d", 6).value(), "B");
}

TEST(Balancer, LeastLoad) {
  EXPECT_EQ(least_load({}), -1);
  EXPECT_EQ(least_load({{"a", 3}, {"b", 1}, {"c", 2}}), 1);
  EXPECT_EQ(least_load({{"a", 1}, {"b", 1}}), 0);
}

TEST(Balancer, PrefixHashIsStableAndSpreads) {
  std::vector<Candidate> c{{"http://a:1", 0}, {"http://b:2", 0}, {"http://c:3", 0}};
  std::map<int, int> per;
  for (int k = 0; k < 300; ++k) {
    const uint64_t h = hash_bytes("prefix-" + std::to_string(k));
    const int i = bounded_hash(c, h, 1.25);
    EXPECT_EQ(bounded_hash(c, h, 1.25), i);  // same key, same choice
    ++per[i];
  }
  for (int i = 0; i < 3; ++i) EXPECT_GT(per[i], 50) << "backend " << i;  // ~100 each
  // Removing one backend moves only the keys it had.
  std::vector<Candidate> two{c[0], c[2]};
  for (int k = 0; k < 300; ++k) {
    const uint64_t h = hash_bytes("prefix-" + std::to_string(k));
    const int before = bounded_hash(c, h, 1.25);
    if (before == 1) continue;
    EXPECT_EQ(two[static_cast<size_t>(bounded_hash(two, h, 1.25))].name, c[static_cast<size_t>(before)].name);
  }
}

TEST(Balancer, LoadBoundSpillsAHotPrefix) {
  const uint64_t h = hash_bytes("the same long system prompt");
  std::vector<Candidate> c{{"http://a:1", 0}, {"http://b:2", 0}, {"http://c:3", 0}};
  const int home = bounded_hash(c, h, 1.25);
  // Place 30 requests of one prefix one after another, each adding one to the load of the
  // chosen backend: no backend may exceed ceil(1.25 * (total + 1) / 3) at any time.
  for (int k = 0; k < 30; ++k) {
    double total = 0;
    for (auto& x : c) total += x.load;
    const int i = bounded_hash(c, h, 1.25);
    const double bound = std::ceil(1.25 * (total + 1) / 3);
    EXPECT_LT(c[static_cast<size_t>(i)].load, bound);
    c[static_cast<size_t>(i)].load += 1;
  }
  // 30 > 2 × ceil(1.25 · 30 / 3) = 26: it spilled to every backend, none above the bound.
  for (auto& x : c) {
    EXPECT_GE(x.load, 1) << x.name;
    EXPECT_LE(x.load, 13) << x.name;
  }
  EXPECT_EQ(c[static_cast<size_t>(home)].load, 13);  // the home backend filled up to the bound first
  // An idle home backend takes its prefix again.
  for (auto& x : c) x.load = 5;
  c[static_cast<size_t>(home)].load = 0;
  EXPECT_EQ(bounded_hash(c, h, 1.25), home);
}

TEST(Balancer, PrefixKeyUsesWholeBlocks) {
  EXPECT_EQ(prefix_hash("short", 64, 4), 0u);
  const std::string a(64, 'x');
  EXPECT_NE(prefix_hash(a, 64, 4), 0u);
  EXPECT_EQ(prefix_hash(a + "tail one", 64, 4), prefix_hash(a + "tail two", 64, 4));  // only whole blocks
  EXPECT_NE(prefix_hash(a + std::string(64, 'y'), 64, 4), prefix_hash(a + std::string(64, 'z'), 64, 4));
  EXPECT_EQ(prefix_hash(std::string(64 * 5, 'q') + "a", 64, 4), prefix_hash(std::string(64 * 5, 'q') + "b", 64, 4));
}

TEST(Passive, ErrorAndFirstByteMovingAverages) {
  PassiveSignals p;
  p.on_outcome(false, -1, 100);
  EXPECT_DOUBLE_EQ(p.error(100), 0.2);  // kPassiveAlpha of one failure
  EXPECT_DOUBLE_EQ(p.first_byte_ewma, -1);
  p.on_outcome(true, 2.0, 100);
  EXPECT_DOUBLE_EQ(p.error(100), 0.16);
  EXPECT_DOUBLE_EQ(p.first_byte_ewma, 2.0);  // the first sample is taken whole
  p.on_outcome(true, 1.0, 100);
  EXPECT_DOUBLE_EQ(p.first_byte_ewma, 0.8 * 2.0 + 0.2 * 1.0);
  for (int i = 0; i < 100; ++i) p.on_outcome(false, -1, 100);
  EXPECT_GT(p.error(100), 0.999);
  // It fades with time: half after kPassiveHalfLifeS, a quarter after twice that.
  EXPECT_NEAR(p.error(100 + kPassiveHalfLifeS), 0.5, 1e-3);
  EXPECT_NEAR(p.error(100 + 2 * kPassiveHalfLifeS), 0.25, 1e-3);
  EXPECT_NEAR(p.error(99), p.error(100), 1e-12);  // never grows backwards
  // The next outcome starts from the faded value.
  p.on_outcome(true, -1, 100 + kPassiveHalfLifeS);
  EXPECT_NEAR(p.error(100 + kPassiveHalfLifeS), 0.8 * 0.5, 1e-3);
}

TEST(Passive, FailingBackendScoresHigherUntilItFades) {
  Backend b("http://a:1", shardlm::client::parse_url("http://a:1").value(), BreakerOptions{});
  EXPECT_DOUBLE_EQ(b.score(0), 0);
  b.load = {true, 2, 1, 0.5};
  EXPECT_DOUBLE_EQ(b.score(0), 2 + 1 + kKvLoadWeight * 0.5);
  b.passive.error_ewma = 0.5;
  b.passive.error_at = 10;
  EXPECT_DOUBLE_EQ(b.score(10), 3 + kKvLoadWeight * 0.5 + kErrorLoadWeight * 0.5);
  b.passive.first_byte_ewma = 5.0;  // reported only
  EXPECT_DOUBLE_EQ(b.score(10), 3 + kKvLoadWeight * 0.5 + kErrorLoadWeight * 0.5);
  // The one whose recent calls failed loses the least-load choice to a busier one, and
  // wins it back once its failures have faded.
  Backend ok("http://b:2", shardlm::client::parse_url("http://b:2").value(), BreakerOptions{});
  Backend bad("http://c:3", shardlm::client::parse_url("http://c:3").value(), BreakerOptions{});
  for (int i = 0; i < 10; ++i) bad.passive.on_outcome(false, -1, 0);  // error ≈ 0.89: score ≈ 3.57
  ok.inflight = 3;
  EXPECT_EQ(least_load({{bad.name, bad.score(0)}, {ok.name, ok.score(0)}}), 1);
  EXPECT_EQ(least_load({{bad.name, bad.score(2 * kPassiveHalfLifeS)}, {ok.name, ok.score(2 * kPassiveHalfLifeS)}}), 0);
  EXPECT_LT(bad.score(5 * kPassiveHalfLifeS), 0.15);
}
