// libFuzzer entry point for the HTTP request head and body parsing the server does
// (src/http/connection.cpp): Boost.Beast's request parser with the server's body limit,
// fed the input in pieces as a socket would deliver them, several pipelined requests in
// one input; then what the server does with each parsed request before routing: the
// Host rule, the header lookup and the key checks (http-auth.h). Any input must parse or
// fail with an error code: never crash, hang or read out of bounds.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/http-auth.h"
#include "shardlm/http/server.h"

namespace bhttp = boost::beast::http;
using namespace shardlm::http;

namespace {
std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

HttpServerConfig config() {
  HttpServerConfig c;
  c.body_limit = 64 << 10;  // the server's default is 8 MiB; the fuzzer's inputs are smaller
  c.api_key = "sk-api";
  c.admin_key = "sk-admin";
  return c;
}

// One request from the front of [p, p + n): returns the bytes it used, 0 when the input
// ends or the parser refuses it (the server answers 4xx and closes).
size_t one_request(const uint8_t* p, size_t n, size_t chunk, const HttpServerConfig& cfg) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.body_limit(cfg.body_limit);
  parser.header_limit(8 << 10);
  boost::beast::error_code ec;
  size_t used = 0, avail = std::min(n, chunk);  // avail: the bytes received so far
  while (!parser.is_done()) {
    const size_t took = parser.put(boost::asio::buffer(p + used, avail - used), ec);
    used += took;
    if (ec && ec != bhttp::error::need_more) return 0;
    if (ec || took == 0) {  // needs more bytes than have arrived
      ec = {};
      if (avail == n) return 0;  // a partial request: the server waits, then times out
      avail = std::min(n, avail + chunk);
    }
  }
  const auto& m = parser.get();
  HttpRequest req;
  req.method = std::string(sv(m.method_string()));
  std::string_view t = sv(m.target());
  const size_t q = t.find('?');
  req.target = std::string(t.substr(0, q));
  for (const auto& f : m) req.headers.emplace_back(std::string(sv(f.name_string())), std::string(sv(f.value())));
  req.body = m.body();
  const size_t hosts = m.count(bhttp::field::host);
  if ((m.version() >= 11 && hosts == 0) || hosts > 1) return 0;  // 400 and close
  if (req.header("host").empty() && hosts == 1 && !m[bhttp::field::host].empty()) std::abort();
  const bool admin = req.target.rfind("/admin/", 0) == 0;
  auto denied = shardlm::http::detail::check_auth(cfg, req.target, admin, req.header("authorization"));
  const bool open = req.target == "/health" || req.target == "/metrics";
  if (open && denied) std::abort();  // open paths never need a key
  if (!open && !req.has_header("authorization") && !denied) std::abort();
  if (req.body.size() > cfg.body_limit) std::abort();
  return m.keep_alive() ? used : 0;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const HttpServerConfig cfg = config();
  if (size < 1) return 0;
  const size_t chunk = 1 + data[0] % 64;  // how the bytes arrive
  const uint8_t* p = data + 1;
  size_t n = size - 1;
  for (int i = 0; i < 16 && n > 0; ++i) {  // pipelined requests
    const size_t used = one_request(p, n, chunk, cfg);
    if (used == 0) break;
    p += used;
    n -= used;
  }
  return 0;
}
