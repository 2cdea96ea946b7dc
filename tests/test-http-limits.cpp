// HttpServer under a hostile client: the header deadline, the per-client connection
// limit, the reserve that keeps /health answering when the server is full, 400 for
// HTTP/1.1 without Host, and keys checked before routing. Short timeouts; waits are
// for conditions with generous bounds (a loaded 2-core machine), never tight timings.
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "http-test-client.h"

using namespace http_test;

namespace {

// Waits until the server holds n open connections (or 10 s passed).
bool wait_open(const HttpServer& srv, int n) {
  const auto deadline = Clock::now() + 10s;
  while (srv.open_connections() != n && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  return srv.open_connections() == n;
}

// n connections from addr that send a partial request line and then nothing.
std::vector<std::unique_ptr<Client>> half_open(int port, const std::string& addr, int n) {
  std::vector<std::unique_ptr<Client>> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(std::make_unique<Client>(port, addr));
    EXPECT_FALSE(out.back()->connect_ec) << out.back()->connect_ec.message();
    EXPECT_FALSE(out.back()->write_raw("GET /hello HTTP/1.1\r\nHo"));
  }
  return out;
}

TEST(HttpLimits, HeaderDeadlineClosesASlowClientButNotAnIdleKeepAlive) {
  HttpServer srv;
  add_basic_routes(srv);
  auto cfg = test_config();
  cfg.header_timeout_s = 0.3;
  cfg.idle_timeout_s = 60;
  ASSERT_TRUE(srv.start(cfg).is_ok());
  {
    Client slow(srv.bound_port());
    ASSERT_FALSE(slow.write_raw("GET /hello HTTP/1.1\r\nHost: x\r\n"));  // headers never end
    std::string got;
    const auto t0 = Clock::now();
    EXPECT_EQ(slow.read_to_end(got), net::error::eof);  // within kTimeout, not the 60 s idle timeout
    EXPECT_GE(Clock::now() - t0, 200ms);
    EXPECT_EQ(got, "");  // closed without an answer
  }
  {
    Client silent(srv.bound_port());  // connects and sends nothing: the deadline runs from accept
    std::string got;
    EXPECT_EQ(silent.read_to_end(got), net::error::eof);
  }
  Client ka(srv.bound_port());
  EXPECT_EQ(ka.request("GET", "/hello").result_int(), 200);
  std::this_thread::sleep_for(800ms);  // idle past the header deadline: still open
  EXPECT_EQ(ka.request("GET", "/hello").result_int(), 200);
  ASSERT_FALSE(ka.write_raw("GET /hello HTTP/1.1\r\n"));  // a later request cut short
  std::string got;
  EXPECT_EQ(ka.read_to_end(got), net::error::eof);
}

TEST(HttpLimits, PerClientLimitLeavesOtherClientsIn) {
  HttpServer srv;
  add_basic_routes(srv);
  auto cfg = test_config();
  cfg.max_connections_per_client = 3;
  cfg.header_timeout_s = 30;
  ASSERT_TRUE(srv.start(cfg).is_ok());
  auto held = half_open(srv.bound_port(), "127.0.0.2", 3);
  ASSERT_TRUE(wait_open(srv, 3));
  Client fourth(srv.bound_port(), "127.0.0.2");
  error_code ec;
  auto res = fourth.read_response(&ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 503);
  EXPECT_EQ(error_of(res)["code"], "server_is_overloaded");
  Client other(srv.bound_port(), "127.0.0.1");
  EXPECT_EQ(other.request("GET", "/hello").result_int(), 200);
  held.clear();  // the slots come back
  ASSERT_TRUE(wait_open(srv, 1));
  Client again(srv.bound_port(), "127.0.0.2");
  EXPECT_EQ(again.request("GET", "/hello").result_int(), 200);
}

TEST(HttpLimits, HealthAnswersFromTheReserveWhenTheServerIsFull) {
  HttpServer srv;
  add_basic_routes(srv);
  srv.route("GET", "/health", [](const HttpRequest&, std::shared_ptr<ResponseSink> s) { s->send(200, "text/plain", "ok"); });
  auto cfg = test_config();
  cfg.max_connections = 40;
  cfg.reserved_connections = 4;
  cfg.max_connections_per_client = 20;
  cfg.header_timeout_s = 30;
  ASSERT_TRUE(srv.start(cfg).is_ok());
  // 36 half-open connections from two addresses take every unreserved slot.
  auto a = half_open(srv.bound_port(), "127.0.0.2", 18);
  auto b = half_open(srv.bound_port(), "127.0.0.3", 18);
  ASSERT_TRUE(wait_open(srv, 36));
  for (int i = 0; i < 3; ++i) {  // reserve slots come back after each answer
    Client h(srv.bound_port());
    auto res = h.request("GET", "/health");
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_FALSE(res.keep_alive());  // one request per reserved connection
  }
  Client api(srv.bound_port());
  auto res = api.request("GET", "/hello");
  EXPECT_EQ(res.result_int(), 503);
  EXPECT_EQ(error_of(res)["code"], "server_is_overloaded");
  a.clear();
  ASSERT_TRUE(wait_open(srv, 18));
  Client later(srv.bound_port());
  EXPECT_EQ(later.request("GET", "/hello").result_int(), 200);
}

TEST(HttpLimits, Http11WithoutHostIs400) {
  HttpServer srv;
  add_basic_routes(srv);
  ASSERT_TRUE(srv.start(test_config()).is_ok());
  struct Row {
    const char* raw;
    int status;
  };
  const Row rows[] = {
      {"GET /hello HTTP/1.1\r\n\r\n", 400},
      {"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200},
      {"GET /hello HTTP/1.1\r\nHost:\r\n\r\n", 200},  // empty Host is valid (RFC 9112 §3.2)
      {"GET /hello HTTP/1.0\r\n\r\n", 200},
  };
  for (const auto& r : rows) {
    Client c(srv.bound_port());
    ASSERT_FALSE(c.write_raw(r.raw));
    error_code ec;
    auto res = c.read_response(&ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(res.result_int(), r.status) << r.raw;
    if (r.status == 400) {
      EXPECT_EQ(error_of(res)["type"], "invalid_request_error");
      EXPECT_FALSE(res.keep_alive());
    }
  }
}

TEST(HttpLimits, KeysAreCheckedBeforeRouting) {
  auto ok = [](const HttpRequest&, std::shared_ptr<ResponseSink> s) { s->send(200, "text/plain", "ok"); };
  HttpServer srv;
  srv.route("GET", "/v1/models", ok);
  srv.route("GET", "/health", ok);
  srv.route("GET", "/admin/status", ok, true);
  auto cfg = test_config();
  cfg.api_key = "sk-test";
  cfg.admin_key = "adm-test";
  ASSERT_TRUE(srv.start(cfg).is_ok());
  struct Row {
    const char* method;
    const char* path;
    const char* auth;
    int status;
  };
  const Row rows[] = {
      {"GET", "/nope", "", 401},
      {"GET", "/nope", "Bearer sk-test", 404},
      {"POST", "/v1/models", "", 401},
      {"POST", "/v1/models", "Bearer sk-test", 405},
      {"GET", "/admin/nope", "", 401},
      {"GET", "/admin/nope", "Bearer sk-test", 401},
      {"GET", "/admin/nope", "Bearer adm-test", 404},
      {"POST", "/admin/status", "", 401},
      {"GET", "/health", "", 200},
      {"POST", "/health", "", 405},  // an open path: no key needed to learn the method
  };
  Client c(srv.bound_port());
  for (const auto& r : rows) {
    HttpHeaders h;
    if (*r.auth) h.emplace_back("Authorization", r.auth);
    EXPECT_EQ(c.request(r.method, r.path, "", h).result_int(), r.status) << r.method << " " << r.path << " '" << r.auth << "'";
  }
}

TEST(HttpLimits, StartRejectsBadLimits) {
  HttpServer srv;
  auto cfg = test_config();
  cfg.reserved_connections = cfg.max_connections;
  EXPECT_FALSE(srv.start(cfg).is_ok());
  cfg = test_config();
  cfg.max_connections_per_client = 0;
  EXPECT_FALSE(srv.start(cfg).is_ok());
  cfg = test_config();
  cfg.header_timeout_s = -1;
  EXPECT_FALSE(srv.start(cfg).is_ok());
}

}  // namespace
