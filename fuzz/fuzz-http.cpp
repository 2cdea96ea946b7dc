// libFuzzer entry point for the HTTP request head and body parsing the server does
// (src/http/connection.cpp): Boost.Beast's request parser with the server's body limit,
// fed the input in pieces as a socket would deliver them, several pipelined requests in
// one input; then what the server does with each parsed request before routing: the
// Host rule and the key checks (http-auth.h). Any input must parse or
// fail with an error code: never crash, hang or read out of bounds.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/http-auth.h"
#include "shardlm/http/server.h"  // HttpServerConfig

namespace bhttp = boost::beast::http;
using shardlm::http::HttpServerConfig;

namespace {
constexpr std::uint32_t kHeaderLimit = 8 << 10;  // Beast's default, what the server runs with

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
  parser.header_limit(kHeaderLimit);
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
  std::string_view t = sv(m.target());
  const std::string target(t.substr(0, t.find('?')));
  size_t field_bytes = 0;  // the server copies every field (name, value) into its request
  for (const auto& f : m) field_bytes += std::string(sv(f.name_string())).size() + std::string(sv(f.value())).size();
  const size_t hosts = m.count(bhttp::field::host);
  if ((m.version() >= 11 && hosts == 0) || hosts > 1) return 0;  // 400 and close
  const bool admin = target.rfind("/admin/", 0) == 0;
  const std::string_view authorization = sv(m[bhttp::field::authorization]);
  auto denied = shardlm::http::detail::check_auth(cfg, target, admin, authorization);
  const bool open = target == "/health" || target == "/metrics";
  if (open && denied) std::abort();  // open paths never need a key
  if (!open && authorization.empty() && !denied) std::abort();
  if (m.body().size() > cfg.body_limit || field_bytes > kHeaderLimit) std::abort();  // the limits hold
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
