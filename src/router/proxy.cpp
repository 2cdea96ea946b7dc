// One proxied request, on its own thread: choose a backend, call it, stream the answer
// through; retry failures that happened before any byte reached the client; move a
// stream that broke after it began to another backend (StreamRelay).
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "router/router-core.h"
#include "shardlm/core/log.h"
#include "shardlm/router/balancer.h"
#include "shardlm/router/stream-relay.h"

namespace shardlm::router {

using json = nlohmann::ordered_json;
using http::ApiError;

namespace {

// The client's side of the call: whether it left, and the upstream call to cancel then.
struct CancelSlot {
  std::mutex mu;
  bool gone = false;
  std::shared_ptr<client::HttpClient> current;
  void fire() {
    std::lock_guard<std::mutex> lk(mu);
    gone = true;
    if (current) current->cancel();
  }
  bool set(std::shared_ptr<client::HttpClient> c) {
    std::lock_guard<std::mutex> lk(mu);
    current = std::move(c);
    return !gone;
  }
  bool is_gone() {
    std::lock_guard<std::mutex> lk(mu);
    return gone;
  }
};

enum class Outcome {
  done,         // the answer reached the client whole
  forwarded,    // a backend's own error answer (4xx, 500) went to the client as it was
  gone,         // the client left
  retry,        // failed before any byte reached the client: another backend may take it
  full,         // 429 before any byte: the backend is at capacity
  broken,       // failed after bytes reached the client
};

struct Attempt {
  Outcome outcome = Outcome::retry;
  std::string why;       // for logs and the last error
  bool connect = false;  // could not connect (the backend is taken as down)
  int status = 0;
  int retry_after_s = 0;
  std::string body;      // a non-2xx answer's body
  std::string content_type;
};

// The prompt text for the prefix key: a completion's prompt string, or a chat's
// messages' contents in order.
std::string prompt_text(const json& body, bool chat) {
  if (!body.is_object()) return {};
  if (!chat) {
    auto p = body.find("prompt");
    return p != body.end() && p->is_string() ? p->get<std::string>() : std::string();
  }
  std::string s;
  auto ms = body.find("messages");
  if (ms == body.end() || !ms->is_array()) return s;
  for (const auto& msg : *ms) {
    if (!msg.is_object()) continue;
    auto c = msg.find("content");
    if (c != msg.end() && c->is_string()) s += msg.value("role", "") + ":" + c->get<std::string>() + "\n";
    if (s.size() > 4096) break;
  }
  return s;
}

int retry_after(const client::HttpResponse& r) {
  auto it = r.headers.find("retry-after");
  if (it == r.headers.end()) return 1;
  const int v = std::atoi(it->second.c_str());
  return v > 0 ? v : 1;
}

double jitter() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0, 1)(rng);
}

}  // namespace

namespace {

// What one proxied request carries through its attempts.
struct ProxyState {
  RouterCore& core;
  const http::HttpRequest& req;
  std::shared_ptr<http::ResponseSink> sink;
  std::shared_ptr<CancelSlot> slot;
  std::string target;          // path of the upstream call
  std::string body;            // body of the upstream call
  bool stream = false;         // the client asked for a stream (its first byte is its TTFT)
  double first_byte_s = -1;    // the latest call's time to the response header (-1: none)
  bool sse = false;            // relay through StreamRelay (migratable stream)
  std::optional<StreamRelay> relay;
  bool started = false;        // the client got the response head (bytes went out)
  // Across attempts:
  std::vector<std::string> exclude;  // backends this request failed on
  int retries = 0, migrations = 0;
  Attempt last;                      // the latest failed attempt
  bool saw_full = false;             // a backend answered 429
  int full_retry_after = 1;
  bool gave_up = false;              // no retry left (per request or the shared budget)

  Attempt call(Backend& b);
  // A non-2xx answer: retried (429, 502-504), or passed on to the client.
  Attempt refused(const client::HttpResponse& r, const Backend& b);
};

Attempt ProxyState::call(Backend& b) {
  Attempt a;
  client::HttpClientConfig cc;
  cc.url = b.url;
  cc.timeout_s = core.opt.request_timeout_s > 0 ? core.opt.request_timeout_s : 1e7;
  auto c = std::make_shared<client::HttpClient>(cc);
  if (!slot->set(c)) return {Outcome::gone};
  client::CallOptions co;
  co.header_timeout_s = core.opt.first_token_timeout_s;
  for (const char* h : {"X-Session-ID", "X-Request-ID", "Accept"})
    if (req.has_header(h)) co.headers.emplace_back(h, std::string(req.header(h)));
  const auto t0 = client::Clock::now();
  bool client_left = false;
  first_byte_s = -1;
  auto on_headers = [&](const client::HttpResponse& head) {
    first_byte_s = std::chrono::duration<double>(client::Clock::now() - t0).count();
    core.m.upstream_first_byte.observe(first_byte_s);
    if (head.status < 200 || head.status >= 300) return false;
    if (started) return true;  // a continuation: the client has its head already
    auto ct = head.headers.find("content-type");
    const std::string type = ct != head.headers.end() ? ct->second : "application/json";
    http::HttpHeaders hs{{"X-Shardlm-Backend", b.name}};
    if (type.rfind("text/event-stream", 0) == 0) hs.emplace_back("Cache-Control", "no-cache");
    started = true;
    if (!sink->start_stream(head.status, type, hs)) client_left = true;
    return true;
  };
  std::vector<std::string> out;
  auto on_chunk = [&](std::string_view bytes, client::Clock::time_point) {
    if (client_left) return;
    if (!sse) {
      if (!sink->write(std::string(bytes))) client_left = true;
    } else {
      out.clear();
      relay->feed(bytes, out);
      for (auto& s : out)
        if (!sink->write(std::move(s))) client_left = true;
      if (relay->broken()) c->cancel();  // an error event: the backend failed mid-stream
    }
    if (client_left) c->cancel();
  };
  auto r = c->exchange(req.method, target, body, core.opt.backend_api_key, co, on_headers, on_chunk);
  slot->set(nullptr);
  if (client_left || slot->is_gone()) return {Outcome::gone, "the client left"};
  if (!r) {
    a.why = r.message();
    if (sse && relay->broken()) a.why = "the backend sent an error mid-stream";
    a.connect = r.message().find("connect ") != std::string::npos && !started;
    a.outcome = started ? Outcome::broken : Outcome::retry;
    return a;
  }
  a.status = r->status;
  if (r->status >= 200 && r->status < 300) {
    if (sse) {
      out.clear();
      relay->finish(out);
      for (auto& s : out) sink->write(std::move(s));
      if (!relay->done()) {
        a.why = relay->broken() ? "the backend sent an error mid-stream" : "the stream ended without [DONE]";
        a.outcome = Outcome::broken;
        return a;
      }
    }
    sink->end();
    a.outcome = Outcome::done;
    return a;
  }
  return refused(*r, b);
}

Attempt ProxyState::refused(const client::HttpResponse& r, const Backend& b) {
  Attempt a;
  a.status = r.status;
  a.body = r.body;
  auto ct = r.headers.find("content-type");
  a.content_type = ct != r.headers.end() ? ct->second : "application/json";
  a.why = "answered " + std::to_string(r.status);
  if (started) {  // a continuation refused: the stream cannot go on
    a.outcome = Outcome::broken;
    return a;
  }
  if (r.status == 429) {
    a.outcome = Outcome::full;
    a.retry_after_s = retry_after(r);
  } else if (r.status == 502 || r.status == 503 || r.status == 504) {
    a.outcome = Outcome::retry;
  } else {
    http::HttpHeaders hs{{"X-Shardlm-Backend", b.name}};
    if (auto ra = r.headers.find("retry-after"); ra != r.headers.end()) hs.emplace_back("Retry-After", ra->second);
    if (auto wa = r.headers.find("www-authenticate"); wa != r.headers.end()) hs.emplace_back("WWW-Authenticate", wa->second);
    sink->send(r.status, a.content_type, r.body, hs);
    a.outcome = Outcome::forwarded;
  }
  return a;
}

}  // namespace

namespace {

// The request has no backend to go to (none chosen, or no retry left): answer it, or end
// a stream that cannot go on.
void answer_without_backend(ProxyState& ps, const Choice& ch) {
  RouterMetrics& m = ps.core.m;
  auto& sink = ps.sink;
  if (ps.started) {
    m.migrations_failed.inc();
    LOG_WARN("router: {} {}: no backend to continue the stream on; the stream ends with an error", ps.req.method,
             ps.req.target);
    if (ps.sse && ps.relay->broken()) {
      sink->write(ps.relay->error_event());
      sink->write("data: [DONE]\n\n");
      sink->end();
    }
    return;  // otherwise closed without its end (the sink is dropped)
  }
  if (ch.all_full || ps.saw_full) {
    m.all_full.inc();
    m.responses(429).inc();
    sink->send_error(http::too_many_requests(std::max(ch.retry_after_s, ps.full_retry_after),
                                             "every backend is at capacity; retry later"));
  } else if (ps.last.outcome == Outcome::retry && !ps.last.body.empty()) {
    m.responses(ps.last.status).inc();  // the last backend's own 5xx answer
    sink->send(ps.last.status, ps.last.content_type, ps.last.body, {{"Retry-After", "1"}});
  } else if (ps.gave_up) {
    m.responses(503).inc();
    ApiError e = http::service_unavailable(fmt::format("the request failed on {} backend(s), no retry left (last error: {})",
                                                       ps.exclude.size(), ps.last.why), 1);
    e.code = "upstream_failed";
    sink->send_error(e);
  } else {
    m.no_workers.inc();
    m.responses(503).inc();
    ApiError e = http::service_unavailable(
        "no backend is available" + (ps.last.why.empty() ? "" : " (last error: " + ps.last.why + ")"), 1);
    e.code = "no_workers_available";
    sink->send_error(e);
  }
}

// The breaker, the passive signals and the backend's bookkeeping after one attempt.
// first_byte_s: the call's time to its response header when it was a stream (its TTFT), else -1.
void record_outcome(RouterCore& core, Backend& b, const Attempt& a, double first_byte_s) {
  const double now = now_s();
  std::lock_guard<std::mutex> lk(b.mu);
  const uint64_t opened = b.breaker.opened();
  switch (a.outcome) {
    case Outcome::done:
    case Outcome::forwarded:
      b.passive.on_outcome(true, first_byte_s, now);
      b.breaker.on_success(now);  // it answered: alive
      break;
    case Outcome::full:
      b.breaker.on_success(now);  // alive, only full (Retry-After keeps traffic away)
      break;
    case Outcome::gone:
      b.breaker.release_probe();
      break;
    case Outcome::retry:
    case Outcome::broken:
      b.passive.on_outcome(false, -1, now);
      b.failures++;
      core.m.backend_failures(b.name).inc();
      b.breaker.on_failure(now);
      b.last_error = a.why;
      if (a.connect) core.mark_down(b, a.why);
      break;
  }
  if (b.breaker.opened() != opened) {
    core.m.breaker_opens(b.name).inc();
    LOG_WARN("router: backend {}: breaker open after {}", b.name, a.why);
  }
  if (a.outcome == Outcome::full) b.full_until = now + a.retry_after_s;
}

// Nothing reached the client: count the retry, or give up when none is left.
void after_retryable(ProxyState& ps, Backend& b, const Attempt& a) {
  RouterCore& core = ps.core;
  if (a.outcome == Outcome::full) {
    ps.saw_full = true;
    ps.full_retry_after = std::max(ps.full_retry_after, a.retry_after_s);
  }
  ps.last = a;
  ps.exclude.push_back(b.name);
  LOG_INFO("router: {} {} on {}: {}; trying another backend", ps.req.method, ps.req.target, b.name, a.why);
  if (++ps.retries > core.opt.retry.max_retries || !core.budget.try_spend(now_s())) {
    ps.gave_up = true;
    return;
  }
  core.m.retries.inc();
  std::this_thread::sleep_for(std::chrono::duration<double>(backoff_delay(core.opt.retry, ps.retries, jitter())));
}

// The stream broke after bytes reached the client: set up its continuation elsewhere;
// false when it cannot move (then the client's stream has been ended).
bool after_broken(ProxyState& ps, Backend& b, const Attempt& a, const json& body) {
  RouterCore& core = ps.core;
  ps.exclude.push_back(b.name);
  b.migrated_from++;
  std::optional<std::string> next;
  if (ps.sse && ps.migrations < core.opt.migration_limit) next = ps.relay->continuation(body);
  if (!next) {
    core.m.migrations_failed.inc();
    LOG_WARN("router: {} {} on {} broke after the stream began ({}); it cannot move", ps.req.method, ps.req.target,
             b.name, a.why);
    if (ps.sse && ps.relay->broken()) {
      ps.sink->write(ps.relay->error_event());
      ps.sink->write("data: [DONE]\n\n");
      ps.sink->end();
    }
    return false;
  }
  ++ps.migrations;
  core.m.migrations.inc();
  LOG_WARN("router: stream on {} broke ({}) after {} tokens; continuing on another backend", b.name, a.why,
           ps.relay->generated());
  ps.relay->begin_continuation();
  ps.target = "/v1/completions";
  ps.body = std::move(*next);
  ps.last = a;
  return true;
}

}  // namespace

void RouterCore::proxy(const http::HttpRequest& req, std::shared_ptr<http::ResponseSink> sink) {
  m.requests.inc();
  budget.on_request(now_s());
  auto slot = std::make_shared<CancelSlot>();
  sink->on_close([slot] { slot->fire(); });

  const bool chat = req.target == "/v1/chat/completions";
  const bool generate = chat || req.target == "/v1/completions";
  json body = generate ? json::parse(req.body, nullptr, false) : json();
  const bool is_obj = body.is_object();
  std::string session = is_obj && body.contains("session_id") && body["session_id"].is_string()
                            ? body["session_id"].get<std::string>() : std::string();
  if (session.empty()) session = std::string(req.header("X-Session-ID"));
  const uint64_t phash = generate ? prefix_hash(prompt_text(body, chat), opt.prefix_block_bytes, opt.prefix_blocks) : 0;
  const bool stream = is_obj && body.value("stream", false) == true;
  const bool one_choice = is_obj && (!body.contains("n") || body["n"] == 1) &&
                          !(body.contains("prompt") && body["prompt"].is_array() && !body["prompt"].empty() &&
                            !body["prompt"][0].is_number());

  ProxyState ps{*this, req, sink, slot, req.target, req.body};
  ps.stream = stream;
  if (generate && stream && one_choice && opt.migration_limit > 0) {
    json up = body;
    up["return_token_ids"] = true;
    ps.body = up.dump(-1, ' ', false, json::error_handler_t::replace);
    ps.sse = true;
    ps.relay.emplace(chat, body.value("return_token_ids", false) == true);
  }
  for (;;) {
    if (slot->is_gone()) {
      m.cancelled.inc();
      return;
    }
    Choice ch = ps.gave_up ? Choice{} : choose(session, phash, ps.exclude);
    if (!ch.backend) return answer_without_backend(ps, ch);
    Backend& b = *ch.backend;
    b.requests++;
    m.backend_requests(b.name).inc();
    b.inflight++;
    m.inflight.inc();
    Attempt a = ps.call(b);
    b.inflight--;
    m.inflight.dec();
    record_outcome(*this, b, a, ps.stream && a.outcome == Outcome::done ? ps.first_byte_s : -1);
    switch (a.outcome) {
      case Outcome::done:
      case Outcome::forwarded:
        m.responses(a.outcome == Outcome::done ? 200 : a.status).inc();
        return;
      case Outcome::gone:
        m.cancelled.inc();
        return;
      case Outcome::full:
      case Outcome::retry:
        after_retryable(ps, b, a);
        continue;
      case Outcome::broken:
        if (!after_broken(ps, b, a, body)) return;
        continue;
    }
  }
}

}  // namespace shardlm::router
