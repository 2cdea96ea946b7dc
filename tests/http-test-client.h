// Test helpers over real sockets for the HttpServer tests: a blocking-style Beast
// client with deadlines, the config and routes most tests share.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "shardlm/http/server.h"

namespace http_test {

using namespace shardlm::http;
using namespace std::chrono_literals;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kTimeout = 5s;

inline std::string str(beast::string_view s) { return std::string(s.data(), s.size()); }

// A blocking-style client on its own io_context; every operation has a deadline.
class Client {
 public:
  // from: the local address to connect from ("127.0.0.2": another client address on loopback).
  explicit Client(int port, const std::string& from = "") : stream_(ioc_) {
    if (!from.empty()) {
      error_code ec;
      stream_.socket().open(tcp::v4(), ec);
      if (!ec) stream_.socket().bind(tcp::endpoint(net::ip::make_address(from), 0), ec);
      EXPECT_FALSE(ec) << "bind " << from << ": " << ec.message();
    }
    stream_.expires_after(kTimeout);
    stream_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
                          [this](error_code ec) { connect_ec = ec; });
    drive();
  }

  error_code write_raw(const std::string& s) {
    error_code r = net::error::timed_out;
    stream_.expires_after(kTimeout);
    net::async_write(stream_, net::buffer(s), [&](error_code ec, size_t) { r = ec; });
    drive();
    return r;
  }

  // Appends what one read returns to out.
  error_code read_some(std::string& out, std::chrono::steady_clock::duration timeout = kTimeout) {
    error_code r = net::error::timed_out;
    size_t got = 0;
    stream_.expires_after(timeout);
    stream_.async_read_some(buf_.prepare(65536), [&](error_code ec, size_t n) {
      r = ec;
      got = n;
    });
    drive();
    buf_.commit(got);
    out += beast::buffers_to_string(buf_.data());
    buf_.consume(buf_.size());
    return r;
  }

  bool read_until(std::string& out, const std::string& needle) {
    auto deadline = Clock::now() + kTimeout;
    while (out.find(needle) == std::string::npos) {
      if (Clock::now() > deadline || read_some(out)) return false;
    }
    return true;
  }

  // Reads until the server closes; returns the error that ended it (eof expected).
  error_code read_to_end(std::string& out) {
    auto deadline = Clock::now() + kTimeout;
    for (;;) {
      error_code ec = read_some(out);
      if (ec) return ec;
      if (Clock::now() > deadline) return net::error::timed_out;
    }
  }

  bhttp::response<bhttp::string_body> request(const std::string& method, const std::string& target,
                                              const std::string& body = "", const HttpHeaders& headers = {},
                                              error_code* ec_out = nullptr) {
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    if (!body.empty() || method == "POST") req.prepare_payload();
    error_code ec = net::error::timed_out;
    stream_.expires_after(kTimeout);
    bhttp::async_write(stream_, req, [&](error_code e, size_t) { ec = e; });
    drive();
    bhttp::response<bhttp::string_body> res;
    if (!ec) res = read_response(&ec);
    if (ec_out) *ec_out = ec;
    EXPECT_FALSE(ec) << method << " " << target << ": " << ec.message();
    return res;
  }

  bhttp::response<bhttp::string_body> read_response(error_code* ec_out) {
    bhttp::response<bhttp::string_body> res;
    error_code ec = net::error::timed_out;
    stream_.expires_after(kTimeout);
    bhttp::async_read(stream_, buf_, res, [&](error_code e, size_t) { ec = e; });
    drive();
    *ec_out = ec;
    return res;
  }

  void close() { stream_.close(); }

  error_code connect_ec = net::error::timed_out;

 private:
  void drive() {
    ioc_.restart();
    ioc_.run();
  }
  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
};

inline json error_of(const bhttp::response<bhttp::string_body>& res) {
  json j = json::parse(res.body(), nullptr, false);
  if (j.is_discarded() || !j.contains("error")) return json::object();
  return j["error"];
}

inline HttpServerConfig test_config() {
  HttpServerConfig c;
  c.port = 0;
  c.threads = 2;
  return c;
}

// Routes most tests share.
inline void add_basic_routes(HttpServer& srv) {
  srv.route("GET", "/hello", [](const HttpRequest& r, std::shared_ptr<ResponseSink> s) {
    s->send(200, "text/plain", "hello q=" + r.query + " x=" + std::string(r.header("x-test")));
  });
  srv.route("GET", "/remote", [](const HttpRequest& r, std::shared_ptr<ResponseSink> s) {
    s->send(200, "text/plain", r.remote);
  });
  srv.route("POST", "/echo", [](const HttpRequest& r, std::shared_ptr<ResponseSink> s) {
    s->send(200, "text/plain", std::to_string(r.body.size()));
  });
}


}  // namespace http_test
