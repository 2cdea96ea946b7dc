// HTTP frontend: ApiError shape, ResponseSink framing (fake target), and HttpServer over
// real sockets on an ephemeral port (Beast client code lives in this file only).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "shardlm/http/api-error.h"
#include "shardlm/http/response-sink.h"
#include "shardlm/http/server.h"
#include "http-test-client.h"

using namespace shardlm::http;
using namespace std::chrono_literals;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using http_test::Client;
using http_test::add_basic_routes;
using http_test::error_of;
using http_test::kTimeout;
using http_test::str;
using http_test::test_config;

namespace {


// ---- ApiError ---------------------------------------------------------------------------

TEST(ApiError, JsonShape) {
  json j = json::parse(bad_request("temperature must be in [0, 2]", "temperature").to_json());
  ASSERT_TRUE(j.contains("error"));
  EXPECT_EQ(j["error"].size(), 4u);
  EXPECT_EQ(j["error"]["message"], "temperature must be in [0, 2]");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "temperature");
  EXPECT_TRUE(j["error"]["code"].is_null());

  json k = json::parse(internal_error("boom").to_json());
  EXPECT_TRUE(k["error"]["param"].is_null());
  EXPECT_TRUE(k["error"]["code"].is_null());

  // Invalid UTF-8 in a message must not throw, and still yields valid JSON.
  std::string bad = bad_request(std::string("bad byte \xff here")).to_json();
  EXPECT_TRUE(json::accept(bad));
}

TEST(ApiError, StatusesAndTypes) {
  struct Row {
    ApiError e;
    int status;
    const char* type;
    const char* code;  // "" = null
  };
  const Row rows[] = {
      {bad_request("x"), 400, "invalid_request_error", ""},
      {unauthorized(), 401, "authentication_error", "invalid_api_key"},
      {not_found("x", "model_not_found"), 404, "not_found_error", "model_not_found"},
      {method_not_allowed("PUT", "/v1/models"), 405, "invalid_request_error", "method_not_allowed"},
      {payload_too_large(1000), 413, "invalid_request_error", "request_too_large"},
      {header_too_large(), 431, "invalid_request_error", "request_header_too_large"},
      {too_many_requests(3), 429, "rate_limit_error", "rate_limit_exceeded"},
      {internal_error("x"), 500, "server_error", ""},
      {service_unavailable("loading"), 503, "service_unavailable_error", "service_unavailable"},
      {overloaded("busy"), 503, "service_unavailable_error", "server_is_overloaded"},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(r.e.status, r.status) << r.e.message;
    json j = json::parse(r.e.to_json());
    EXPECT_EQ(j["error"]["type"], r.type) << r.status;
    if (std::string(r.code).empty()) EXPECT_TRUE(j["error"]["code"].is_null()) << r.status;
    else EXPECT_EQ(j["error"]["code"], r.code) << r.status;
  }
  EXPECT_EQ(too_many_requests(3).retry_after_s, 3);
  EXPECT_NE(payload_too_large(1000).message.find("1000"), std::string::npos);
}

// ---- ResponseSink with a fake target ------------------------------------------------------

struct FakeTarget : ResponseSinkTarget {
  struct Item {
    uint64_t seq;
    std::string bytes;
    bool last, close_after;
  };
  std::mutex mu;
  std::vector<Item> items;
  int aborts = 0;
  void enqueue(uint64_t seq, std::string bytes, bool last, bool close_after) override {
    std::lock_guard<std::mutex> l(mu);
    items.push_back({seq, std::move(bytes), last, close_after});
  }
  void abort(uint64_t) override {
    std::lock_guard<std::mutex> l(mu);
    ++aborts;
  }
};

TEST(ResponseSink, FullResponseBytes) {
  auto t = std::make_shared<FakeTarget>();
  auto s = std::make_shared<ResponseSink>(t, 7, 11, true);
  EXPECT_TRUE(s->send(200, "text/plain", "hi", {{"X-A", "1"}}));
  ASSERT_EQ(t->items.size(), 1u);
  EXPECT_EQ(t->items[0].bytes,
            "HTTP/1.1 200 OK\r\nServer: shardlm\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
            "X-A: 1\r\n\r\nhi");
  EXPECT_EQ(t->items[0].seq, 7u);
  EXPECT_TRUE(t->items[0].last);
  EXPECT_FALSE(t->items[0].close_after);
  EXPECT_FALSE(s->send(200, "text/plain", "again"));  // twice: ignored
  EXPECT_FALSE(s->write("x"));                        // not a stream
  EXPECT_EQ(t->items.size(), 1u);
}

TEST(ResponseSink, ConnectionCloseAndHeaderFiltering) {
  auto t = std::make_shared<FakeTarget>();
  auto s = std::make_shared<ResponseSink>(t, 1, 11, /*keep_alive=*/false);
  s->send(404, "application/json", "{}",
          {{"X-Bad", "a\r\nInjected: 1"}, {"Content-Length", "99"}, {"Connection", "keep-alive"}, {"X-Ok", "y"}});
  ASSERT_EQ(t->items.size(), 1u);
  EXPECT_EQ(t->items[0].bytes,
            "HTTP/1.1 404 Not Found\r\nServer: shardlm\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            "X-Ok: y\r\nConnection: close\r\n\r\n{}");
  EXPECT_TRUE(t->items[0].close_after);
}

TEST(ResponseSink, ChunkedFraming) {
  auto t = std::make_shared<FakeTarget>();
  auto s = std::make_shared<ResponseSink>(t, 1, 11, true);
  EXPECT_FALSE(s->write("early"));  // before start_stream
  EXPECT_FALSE(s->end());
  EXPECT_TRUE(s->start_stream());
  EXPECT_TRUE(s->write("hello"));
  EXPECT_TRUE(s->write("abcdefghijklmnopqrstuvwxyz"));  // 26 bytes = 0x1a
  EXPECT_TRUE(s->write(""));                            // skipped, not a terminator
  EXPECT_TRUE(s->end());
  EXPECT_FALSE(s->end());
  EXPECT_FALSE(s->write("late"));
  ASSERT_EQ(t->items.size(), 4u);
  EXPECT_EQ(t->items[0].bytes,
            "HTTP/1.1 200 OK\r\nServer: shardlm\r\nContent-Type: text/event-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n");
  EXPECT_FALSE(t->items[0].last);
  EXPECT_EQ(t->items[1].bytes, "5\r\nhello\r\n");
  EXPECT_EQ(t->items[2].bytes, "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n");
  EXPECT_EQ(t->items[3].bytes, "0\r\n\r\n");
  EXPECT_TRUE(t->items[3].last);
  EXPECT_FALSE(t->items[3].close_after);
}

TEST(ResponseSink, Http10StreamIsRawAndCloses) {
  auto t = std::make_shared<FakeTarget>();
  auto s = std::make_shared<ResponseSink>(t, 1, 10, true);
  s->start_stream(200, "text/plain");
  s->write("abc");
  s->end();
  ASSERT_EQ(t->items.size(), 3u);
  EXPECT_EQ(t->items[0].bytes, "HTTP/1.1 200 OK\r\nServer: shardlm\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(t->items[1].bytes, "abc");
  EXPECT_EQ(t->items[2].bytes, "");
  EXPECT_TRUE(t->items[2].last);
  EXPECT_TRUE(t->items[2].close_after);
}

TEST(ResponseSink, ErrorHeaders) {
  auto t = std::make_shared<FakeTarget>();
  ResponseSink(t, 1, 11, true).send_error(too_many_requests(3));
  ResponseSink(t, 2, 11, true).send_error(unauthorized());
  ASSERT_EQ(t->items.size(), 2u);
  EXPECT_EQ(t->items[0].bytes.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0), 0u);
  EXPECT_NE(t->items[0].bytes.find("\r\nRetry-After: 3\r\n"), std::string::npos);
  EXPECT_EQ(t->items[1].bytes.rfind("HTTP/1.1 401 Unauthorized\r\n", 0), 0u);
  EXPECT_NE(t->items[1].bytes.find("\r\nWWW-Authenticate: Bearer\r\n"), std::string::npos);
}

TEST(ResponseSink, ClientGone) {
  auto t = std::make_shared<FakeTarget>();
  auto s = std::make_shared<ResponseSink>(t, 1, 11, true);
  int fired = 0;
  s->on_close([&] { ++fired; });
  s->start_stream();
  EXPECT_FALSE(s->closed());
  s->notify_client_gone();
  s->notify_client_gone();
  EXPECT_EQ(fired, 1);
  EXPECT_TRUE(s->closed());
  EXPECT_FALSE(s->write("x"));
  EXPECT_FALSE(s->end());
  EXPECT_EQ(t->items.size(), 1u);  // only the head

  // Registered after the client left: runs at once, once.
  int late = 0;
  s->on_close([&] { ++late; });
  EXPECT_EQ(late, 1);

  // Gone after the response finished: no callback.
  auto s2 = std::make_shared<ResponseSink>(t, 2, 11, true);
  int fired2 = 0;
  s2->on_close([&] { ++fired2; });
  s2->send(200, "text/plain", "ok");
  s2->notify_client_gone();
  EXPECT_EQ(fired2, 0);
}

TEST(ResponseSink, DroppedSink) {
  auto t = std::make_shared<FakeTarget>();
  { ResponseSink s(t, 1, 11, true); }  // never answered → 500
  ASSERT_EQ(t->items.size(), 1u);
  EXPECT_EQ(t->items[0].bytes.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u);
  EXPECT_NE(t->items[0].bytes.find("\"server_error\""), std::string::npos);
  EXPECT_TRUE(t->items[0].last);
  {
    ResponseSink s(t, 2, 11, true);
    s.start_stream();
  }  // dropped mid-stream → abort, no final chunk
  EXPECT_EQ(t->aborts, 1);
  EXPECT_EQ(t->items.size(), 2u);
  {
    ResponseSink s(t, 3, 11, true);
    s.notify_client_gone();
  }  // client already gone: nothing to send
  EXPECT_EQ(t->items.size(), 2u);
  EXPECT_EQ(t->aborts, 1);
}

// ---- real sockets -------------------------------------------------------------------------

TEST(HttpServer, GetRoute) {
  HttpServer srv;
  add_basic_routes(srv);
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  ASSERT_GT(srv.bound_port(), 0);
  Client c(srv.bound_port());
  ASSERT_FALSE(c.connect_ec);
  auto res = c.request("GET", "/hello?a=1&b=2", "", {{"X-Test", "v1"}});
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "hello q=a=1&b=2 x=v1");
  EXPECT_EQ(str(res[bhttp::field::content_type]), "text/plain");
}

TEST(HttpServer, KeepAliveThreeRequestsOneConnection) {
  HttpServer srv;
  add_basic_routes(srv);
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  Client c(srv.bound_port());
  std::string first;
  for (int i = 0; i < 3; ++i) {
    auto res = c.request("GET", "/remote");
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_TRUE(res.keep_alive());
    if (i == 0) first = res.body();
    EXPECT_EQ(res.body(), first) << "request " << i << " came on another connection";
  }
  EXPECT_EQ(srv.open_connections(), 1);
}

TEST(HttpServer, StopAcceptingRefusesNewConnectionsAndKeepsOpenOnes) {
  HttpServer srv;
  add_basic_routes(srv);
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  const int port = srv.bound_port();
  Client kept(port);
  ASSERT_EQ(kept.request("GET", "/remote").result_int(), 200);
  srv.stop_accepting();
  srv.stop_accepting();  // idempotent
  bool refused = false;  // the listener closes on its strand: wait for it
  for (int i = 0; i < 200 && !refused; ++i) {
    Client c(port);
    refused = c.connect_ec == net::error::connection_refused;
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_TRUE(refused) << "a new connection was still accepted";
  auto res = kept.request("GET", "/remote");  // the connection opened before goes on
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_TRUE(res.keep_alive());
  srv.stop();
}

TEST(HttpServer, FiftyConcurrentConnectionsOnTwoThreads) {
  constexpr int kN = 50;
  HttpServer srv;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<ResponseSink>> held;
  srv.route("GET", "/slow", [&](const HttpRequest&, std::shared_ptr<ResponseSink> s) {
    std::lock_guard<std::mutex> l(mu);
    held.push_back(std::move(s));
    cv.notify_all();
  });
  auto cfg = test_config();
  cfg.threads = 2;
  ASSERT_TRUE(srv.start(cfg).is_ok());

  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kN; ++i) {
    clients.push_back(std::make_unique<Client>(srv.bound_port()));
    ASSERT_FALSE(clients.back()->write_raw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  {
    // All kN requests are pending at once before any is answered.
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, 10s, [&] { return held.size() == kN; })) << held.size() << " of " << kN;
  }
  std::thread answerer([&] {
    for (size_t i = 0; i < held.size(); ++i) held[i]->send(200, "text/plain", "ok");
  });
  for (auto& c : clients) {
    error_code ec;
    auto res = c->read_response(&ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), "ok");
  }
  answerer.join();
}

TEST(HttpServer, BodyLimit) {
  HttpServer srv;
  add_basic_routes(srv);
  auto cfg = test_config();
  cfg.body_limit = 1000;
  ASSERT_TRUE(srv.start(cfg).is_ok());
  {
    Client c(srv.bound_port());
    auto res = c.request("POST", "/echo", std::string(1000, 'a'));
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), "1000");
  }
  {
    Client c(srv.bound_port());
    auto res = c.request("POST", "/echo", std::string(1001, 'a'));
    EXPECT_EQ(res.result_int(), 413);
    EXPECT_EQ(error_of(res)["type"], "invalid_request_error");
    EXPECT_EQ(error_of(res)["code"], "request_too_large");
    EXPECT_FALSE(res.keep_alive());
    std::string rest;
    EXPECT_EQ(c.read_to_end(rest), net::error::eof);
    EXPECT_EQ(rest, "");
  }
  {
    // Chunked body over the limit (0x5dc = 1500 bytes).
    Client c(srv.bound_port());
    ASSERT_FALSE(c.write_raw("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5dc\r\n" +
                             std::string(1500, 'b') + "\r\n0\r\n\r\n"));
    error_code ec;
    auto res = c.read_response(&ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(res.result_int(), 413);
    EXPECT_EQ(error_of(res)["code"], "request_too_large");
  }
}

TEST(HttpServer, ExpectContinue) {
  HttpServer srv;
  add_basic_routes(srv);
  auto cfg = test_config();
  cfg.body_limit = 1000;
  ASSERT_TRUE(srv.start(cfg).is_ok());
  {
    Client c(srv.bound_port());
    ASSERT_FALSE(c.write_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    std::string got;
    ASSERT_TRUE(c.read_until(got, "\r\n\r\n"));
    EXPECT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
    ASSERT_FALSE(c.write_raw("hello"));
    error_code ec;
    auto res = c.read_response(&ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), "5");
  }
  {
    // Too large: 413 at once, no 100 Continue.
    Client c(srv.bound_port());
    ASSERT_FALSE(c.write_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"));
    std::string got;
    EXPECT_EQ(c.read_to_end(got), net::error::eof);
    EXPECT_EQ(got.rfind("HTTP/1.1 413 Payload Too Large\r\n", 0), 0u) << got;
  }
}

TEST(HttpServer, AuthKeys) {
  auto ok = [](const HttpRequest&, std::shared_ptr<ResponseSink> s) { s->send(200, "text/plain", "ok"); };
  HttpServer srv;
  srv.route("GET", "/v1/models", ok);
  srv.route("GET", "/health", ok);
  srv.route("GET", "/admin/status", ok, /*admin=*/true);
  srv.route("GET", "/admin/other", ok);  // admin by its path
  auto cfg = test_config();
  cfg.api_key = "sk-test";
  cfg.admin_key = "adm-test";
  ASSERT_TRUE(srv.start(cfg).is_ok());

  struct Row {
    const char* path;
    const char* auth;  // "" = no header
    int status;
  };
  const Row rows[] = {
      {"/v1/models", "", 401},
      {"/v1/models", "Bearer wrong", 401},
      {"/v1/models", "Bearer sk-test", 200},
      {"/v1/models", "bearer   sk-test ", 200},
      {"/v1/models", "sk-test", 401},
      {"/v1/models", "Bearer sk-test-extra", 401},
      {"/v1/models", "Bearer sk-tes", 401},
      {"/v1/models", "Bearer adm-test", 401},  // the admin key does not open API routes
      {"/health", "", 200},
      {"/admin/status", "", 401},
      {"/admin/status", "Bearer sk-test", 401},
      {"/admin/status", "Bearer adm-test", 200},
      {"/admin/other", "", 401},
      {"/admin/other", "Bearer adm-test", 200},
  };
  Client c(srv.bound_port());
  for (const auto& r : rows) {
    HttpHeaders h;
    if (*r.auth) h.emplace_back("Authorization", r.auth);
    auto res = c.request("GET", r.path, "", h);
    EXPECT_EQ(res.result_int(), r.status) << r.path << " with '" << r.auth << "'";
    if (r.status == 401) {
      EXPECT_EQ(error_of(res)["type"], "authentication_error");
      EXPECT_EQ(error_of(res)["code"], "invalid_api_key");
      EXPECT_EQ(str(res[bhttp::field::www_authenticate]), "Bearer");
    }
  }
}

TEST(HttpServer, AdminFallsBackToApiKeyThenOpen) {
  auto ok = [](const HttpRequest&, std::shared_ptr<ResponseSink> s) { s->send(200, "text/plain", "ok"); };
  {
    HttpServer srv;
    srv.route("GET", "/admin/status", ok, true);
    auto cfg = test_config();
    cfg.api_key = "sk-test";
    ASSERT_TRUE(srv.start(cfg).is_ok());
    Client c(srv.bound_port());
    EXPECT_EQ(c.request("GET", "/admin/status").result_int(), 401);
    EXPECT_EQ(c.request("GET", "/admin/status", "", {{"Authorization", "Bearer sk-test"}}).result_int(), 200);
  }
  {
    HttpServer srv;
    srv.route("GET", "/admin/status", ok, true);
    srv.route("GET", "/v1/models", ok);
    ASSERT_TRUE(srv.start(test_config()).is_ok());
    Client c(srv.bound_port());
    EXPECT_EQ(c.request("GET", "/admin/status").result_int(), 200);
    EXPECT_EQ(c.request("GET", "/v1/models").result_int(), 200);
  }
}

TEST(HttpServer, NotFoundAndMethodNotAllowed) {
  HttpServer srv;
  add_basic_routes(srv);
  srv.route("PUT", "/echo", [](const HttpRequest&, std::shared_ptr<ResponseSink> s) { s->send(200, "", ""); });
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  Client c(srv.bound_port());
  auto r404 = c.request("GET", "/nope");
  EXPECT_EQ(r404.result_int(), 404);
  EXPECT_EQ(error_of(r404)["type"], "not_found_error");
  EXPECT_EQ(str(r404[bhttp::field::content_type]), "application/json");
  auto r405 = c.request("GET", "/echo");
  EXPECT_EQ(r405.result_int(), 405);
  EXPECT_EQ(error_of(r405)["code"], "method_not_allowed");
  EXPECT_EQ(str(r405[bhttp::field::allow]), "POST, PUT");
  auto r404b = c.request("GET", "/hello/");  // exact match only
  EXPECT_EQ(r404b.result_int(), 404);
  EXPECT_EQ(c.request("GET", "/hello").result_int(), 200);  // connection still fine
}

TEST(HttpServer, HandlerFailuresBecome500) {
  HttpServer srv;
  add_basic_routes(srv);
  srv.route("GET", "/throw", [](const HttpRequest&, std::shared_ptr<ResponseSink>) {
    throw std::runtime_error("boom");
  });
  srv.route("GET", "/throw-int", [](const HttpRequest&, std::shared_ptr<ResponseSink>) { throw 42; });
  srv.route("GET", "/drop", [](const HttpRequest&, std::shared_ptr<ResponseSink>) {});
  srv.route("GET", "/send-then-throw", [](const HttpRequest&, std::shared_ptr<ResponseSink> s) {
    s->send(200, "text/plain", "sent");
    throw std::runtime_error("after send");
  });
  srv.route("GET", "/stream-then-throw", [](const HttpRequest&, std::shared_ptr<ResponseSink> s) {
    s->start_stream(200, "text/plain");
    s->write("partial");
    throw std::runtime_error("mid-stream");
  });
  srv.route("GET", "/drop-later", [](const HttpRequest&, std::shared_ptr<ResponseSink> s) {
    std::thread([s = std::move(s)]() mutable {
      std::this_thread::sleep_for(20ms);
      s.reset();
    }).detach();
  });
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  Client c(srv.bound_port());
  for (const char* path : {"/throw", "/throw-int", "/drop", "/drop-later"}) {
    auto res = c.request("GET", path);
    EXPECT_EQ(res.result_int(), 500) << path;
    EXPECT_EQ(error_of(res)["type"], "server_error") << path;
    EXPECT_EQ(res.body().find("boom"), std::string::npos);  // internals stay in the log
  }
  EXPECT_EQ(c.request("GET", "/hello").result_int(), 200);  // keep-alive survives
  auto sent = c.request("GET", "/send-then-throw");  // a finished response is delivered
  EXPECT_EQ(sent.result_int(), 200);
  EXPECT_EQ(sent.body(), "sent");
  EXPECT_EQ(c.request("GET", "/hello").result_int(), 200);

  // Throwing mid-stream cuts the connection after what was written: no final chunk, so
  // the client sees a truncated response rather than a complete one.
  Client c2(srv.bound_port());
  ASSERT_FALSE(c2.write_raw("GET /stream-then-throw HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string raw;
  EXPECT_NE(c2.read_to_end(raw), net::error::timed_out);
  EXPECT_NE(raw.find("7\r\npartial\r\n"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("0\r\n\r\n"), std::string::npos) << raw;
}

TEST(HttpServer, PipelinedRequestsAnsweredInOrder) {
  HttpServer srv;
  add_basic_routes(srv);
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  Client c(srv.bound_port());
  ASSERT_FALSE(c.write_raw("GET /hello?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                           "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                           "GET /hello?n=3 HTTP/1.1\r\nHost: x\r\n\r\n"));
  const char* want[] = {"hello q=n=1 x=", "3", "hello q=n=3 x="};
  for (const char* w : want) {
    error_code ec;
    auto res = c.read_response(&ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(res.body(), w);
  }
}

TEST(HttpServer, MalformedRequestIs400AndClose) {
  HttpServer srv;
  add_basic_routes(srv);
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  Client c(srv.bound_port());
  ASSERT_FALSE(c.write_raw("this is not http\r\n\r\n"));
  std::string got;
  EXPECT_EQ(c.read_to_end(got), net::error::eof);
  EXPECT_EQ(got.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("\"invalid_request_error\""), std::string::npos);
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
}

TEST(HttpServer, Http10ClosesAfterResponse) {
  HttpServer srv;
  add_basic_routes(srv);
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  Client c(srv.bound_port());
  ASSERT_FALSE(c.write_raw("GET /hello HTTP/1.0\r\n\r\n"));
  std::string got;
  EXPECT_EQ(c.read_to_end(got), net::error::eof);
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(got.substr(got.size() - 11), "hello q= x=");
}

// Hands the sink of one request to the test thread.
struct HeldSink {
  std::promise<std::shared_ptr<ResponseSink>> promise;
  std::shared_ptr<ResponseSink> get() {
    auto f = promise.get_future();
    if (f.wait_for(kTimeout) != std::future_status::ready) return nullptr;
    return f.get();
  }
};

TEST(HttpServer, StreamingArrivesIncrementallyInOrder) {
  HttpServer srv;
  HeldSink held;
  srv.route("GET", "/stream", [&](const HttpRequest&, std::shared_ptr<ResponseSink> s) { held.promise.set_value(s); });
  add_basic_routes(srv);
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  Client c(srv.bound_port());
  ASSERT_FALSE(c.write_raw("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto sink = held.get();
  ASSERT_TRUE(sink);

  // The "engine" writes chunk i+1 only after the client has received chunk i.
  std::promise<void> acks[3];
  std::atomic<bool> engine_ok{true};
  std::thread engine([&] {
    sink->start_stream(200, "text/event-stream", {{"Cache-Control", "no-cache"}});
    for (int i = 0; i < 3; ++i) {
      std::this_thread::sleep_for(20ms);
      if (!sink->write("data: " + std::to_string(i) + "\n\n")) engine_ok = false;
      if (acks[i].get_future().wait_for(kTimeout) != std::future_status::ready) {
        engine_ok = false;
        break;
      }
    }
    sink->end();
  });
  std::string raw;
  for (int i = 0; i < 3; ++i) {
    bool got = c.read_until(raw, "data: " + std::to_string(i) + "\n\n");
    EXPECT_TRUE(got) << "chunk " << i << " did not arrive before the next was written";
    EXPECT_EQ(raw.find("data: " + std::to_string(i + 1)), std::string::npos);
    acks[i].set_value();
    if (!got) break;
  }
  EXPECT_TRUE(c.read_until(raw, "0\r\n\r\n"));
  engine.join();
  EXPECT_TRUE(engine_ok);
  size_t head_end = raw.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  std::string head = raw.substr(0, head_end + 4);
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(head.find("Content-Type: text/event-stream\r\n"), std::string::npos);
  EXPECT_NE(head.find("Cache-Control: no-cache\r\n"), std::string::npos);
  // "data: N\n\n" is 9 bytes.
  EXPECT_EQ(raw.substr(head_end + 4), "9\r\ndata: 0\n\n\r\n9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n");

  // The connection goes on with keep-alive after the stream.
  EXPECT_EQ(c.request("GET", "/hello").result_int(), 200);
}

TEST(HttpServer, StreamDecodesWithBeastParser) {
  HttpServer srv;
  srv.route("GET", "/stream", [](const HttpRequest&, std::shared_ptr<ResponseSink> s) {
    std::thread([s = std::move(s)] {
      s->start_stream(200, "text/plain");
      for (int i = 0; i < 5; ++i) s->write(std::string(static_cast<size_t>(i + 1), static_cast<char>('a' + i)));
      s->end();
    }).detach();
  });
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  Client c(srv.bound_port());
  for (int round = 0; round < 2; ++round) {
    auto res = c.request("GET", "/stream");
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_TRUE(res.chunked());
    EXPECT_EQ(res.body(), "abbcccddddeeeee");
  }
}

TEST(HttpServer, ClientDisconnectMidStream) {
  HttpServer srv;
  HeldSink held;
  srv.route("GET", "/stream", [&](const HttpRequest&, std::shared_ptr<ResponseSink> s) { held.promise.set_value(s); });
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  Client c(srv.bound_port());
  ASSERT_FALSE(c.write_raw("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto sink = held.get();
  ASSERT_TRUE(sink);
  std::promise<void> closed;
  std::atomic<int> fired{0};
  sink->on_close([&] {
    if (fired.fetch_add(1) == 0) closed.set_value();
  });
  ASSERT_TRUE(sink->start_stream());
  ASSERT_TRUE(sink->write("data: 0\n\n"));
  std::string raw;
  ASSERT_TRUE(c.read_until(raw, "data: 0\n\n"));
  c.close();
  auto t0 = Clock::now();
  ASSERT_EQ(closed.get_future().wait_for(1s), std::future_status::ready) << "on_close did not fire within 1 s";
  EXPECT_LT(Clock::now() - t0, 1s);
  EXPECT_TRUE(sink->closed());
  EXPECT_FALSE(sink->write("data: 1\n\n"));
  EXPECT_FALSE(sink->end());
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(fired.load(), 1);
}

TEST(HttpServer, ClientDisconnectWhilePending) {
  HttpServer srv;
  std::promise<void> closed;
  std::shared_ptr<ResponseSink> keep;
  srv.route("GET", "/wait", [&](const HttpRequest&, std::shared_ptr<ResponseSink> s) {
    s->on_close([&] { closed.set_value(); });
    keep = std::move(s);  // answer "later", never
  });
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  Client c(srv.bound_port());
  ASSERT_FALSE(c.write_raw("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(100ms);  // let the handler run
  c.close();
  ASSERT_EQ(closed.get_future().wait_for(1s), std::future_status::ready);
  EXPECT_TRUE(keep->closed());
  EXPECT_FALSE(keep->send(200, "text/plain", "too late"));
}

TEST(HttpServer, StopWithOpenConnectionsIsPromptAndSinksOutliveServer) {
  auto srv = std::make_unique<HttpServer>();
  HeldSink held;
  srv->route("GET", "/hold", [&](const HttpRequest&, std::shared_ptr<ResponseSink> s) { held.promise.set_value(s); });
  add_basic_routes(*srv);
  ASSERT_TRUE(srv->start(test_config()).is_ok());
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 5; ++i) {
    idle.push_back(std::make_unique<Client>(srv->bound_port()));
    EXPECT_EQ(idle.back()->request("GET", "/hello").result_int(), 200);
  }
  Client pending(srv->bound_port());
  ASSERT_FALSE(pending.write_raw("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto sink = held.get();
  ASSERT_TRUE(sink);
  std::atomic<int> fired{0};
  sink->on_close([&] { fired++; });
  EXPECT_EQ(srv->open_connections(), 6);

  auto t0 = Clock::now();
  srv->stop();
  EXPECT_LT(Clock::now() - t0, 1s);
  EXPECT_TRUE(sink->closed());
  EXPECT_EQ(fired.load(), 1);
  for (auto& c : idle) {
    std::string got;
    EXPECT_TRUE(c->read_to_end(got)) << "server did not close an idle connection";
  }
  srv.reset();  // destroyed while the engine still holds a sink
  EXPECT_FALSE(sink->send(200, "text/plain", "late"));
  sink.reset();
}

// A response whose last bytes were queued before stop() (the producing thread has
// finished) is written out whole, not cut: the router's drain relies on it.
TEST(HttpServer, StopWritesOutAResponseAlreadyQueued) {
  HttpServer srv;
  HeldSink held;
  srv.route("GET", "/big", [&](const HttpRequest&, std::shared_ptr<ResponseSink> s) { held.promise.set_value(s); });
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  Client c(srv.bound_port());
  ASSERT_FALSE(c.write_raw("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto sink = held.get();
  ASSERT_TRUE(sink);
  const std::string body(32u << 20, 'x');  // far more than the socket buffers: the write is in progress at stop()
  ASSERT_TRUE(sink->send(200, "text/plain", body));
  std::this_thread::sleep_for(100ms);
  auto t0 = Clock::now();
  std::thread stopper([&] { srv.stop(); });
  std::string raw;
  error_code ec = c.read_to_end(raw);
  EXPECT_EQ(ec, net::error::eof) << ec.message();
  stopper.join();
  EXPECT_LT(Clock::now() - t0, 5s);
  size_t head_end = raw.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  EXPECT_EQ(raw.size() - head_end - 4, body.size()) << "the queued response was cut by stop()";
}

TEST(HttpServer, IdleKeepAliveTimeout) {
  HttpServer srv;
  add_basic_routes(srv);
  auto cfg = test_config();
  cfg.idle_timeout_s = 0.2;
  ASSERT_TRUE(srv.start(cfg).is_ok());
  Client c(srv.bound_port());
  EXPECT_EQ(c.request("GET", "/hello").result_int(), 200);
  auto t0 = Clock::now();
  std::string got;
  EXPECT_EQ(c.read_to_end(got), net::error::eof);
  auto waited = Clock::now() - t0;
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 2s);
}

TEST(HttpServer, MaxConnections) {
  HttpServer srv;
  add_basic_routes(srv);
  auto cfg = test_config();
  cfg.max_connections = 2;
  cfg.reserved_connections = 0;
  ASSERT_TRUE(srv.start(cfg).is_ok());
  auto c1 = std::make_unique<Client>(srv.bound_port());
  Client c2(srv.bound_port());
  EXPECT_EQ(c1->request("GET", "/hello").result_int(), 200);
  EXPECT_EQ(c2.request("GET", "/hello").result_int(), 200);
  {
    Client c3(srv.bound_port());
    error_code ec;
    auto res = c3.read_response(&ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(res.result_int(), 503);
    EXPECT_EQ(error_of(res)["code"], "server_is_overloaded");
  }
  c1->close();
  c1.reset();
  auto deadline = Clock::now() + 2s;
  while (srv.open_connections() > 1 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(srv.open_connections(), 1);
  Client c4(srv.bound_port());
  EXPECT_EQ(c4.request("GET", "/hello").result_int(), 200);
}

TEST(HttpServer, StartErrors) {
  HttpServer a;
  ASSERT_TRUE(a.start(test_config()).is_ok());
  EXPECT_FALSE(a.start(test_config()).is_ok());  // already started
  HttpServer b;
  auto cfg = test_config();
  cfg.port = a.bound_port();
  auto st = b.start(cfg);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("cannot listen"), std::string::npos) << st.message();
  HttpServer d;
  cfg.port = 70000;
  EXPECT_FALSE(d.start(cfg).is_ok());
  cfg.port = 0;
  cfg.threads = 0;
  EXPECT_FALSE(d.start(cfg).is_ok());
}

}  // namespace
