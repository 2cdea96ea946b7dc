// Synchronous calls built from Beast's async operations run on a private io_context,
// so that tcp_stream's deadline applies to every step (Beast's sync calls have none).
#include "shardlm/client/http-client.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <limits>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace shardlm::client {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

Result<Url> parse_url(const std::string& text) {
  std::string s = text;
  const std::string scheme = "http://";
  if (s.rfind("https://", 0) == 0) return Status::errorf("{}: https is not supported", text);
  if (s.rfind(scheme, 0) == 0) s = s.substr(scheme.size());
  Url u;
  const size_t slash = s.find('/');
  std::string hostport = s.substr(0, slash);
  if (slash != std::string::npos) u.base_path = s.substr(slash);
  while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
  const size_t colon = hostport.rfind(':');
  if (colon != std::string::npos && hostport.find(']') == std::string::npos) {
    const std::string p = hostport.substr(colon + 1);
    if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return Status::errorf("{}: bad port '{}'", text, p);
    u.port = std::stoi(p);
    hostport = hostport.substr(0, colon);
  }
  if (hostport.size() > 2 && hostport.front() == '[' && hostport.back() == ']') hostport = hostport.substr(1, hostport.size() - 2);
  if (hostport.empty()) return Status::errorf("{}: no host", text);
  if (u.port <= 0 || u.port > 65535) return Status::errorf("{}: port out of range", text);
  u.host = hostport;
  return u;
}

struct HttpClient::Impl {
  net::io_context ioc;
  std::atomic<bool> cancelled{false};
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buf;
  bool connected = false;
  Clock::time_point deadline;

  // Runs the io_context until the started operation completes.
  void run() {
    ioc.restart();
    ioc.run();
  }

  beast::error_code connect(const Url& u) {
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(u.host, std::to_string(u.port), ec);
    if (ec) return ec;
    stream.expires_at(deadline);
    stream.async_connect(results, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    run();
    if (!ec) {
      connected = true;
      buf.clear();
      stream.socket().set_option(tcp::no_delay(true), ec);
      ec = {};
    }
    return ec;
  }

  void close() {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.socket().close(ec);
    connected = false;
    buf.clear();
  }
};

HttpClient::HttpClient(HttpClientConfig cfg) : cfg_(std::move(cfg)), impl_(std::make_unique<Impl>()) {}
HttpClient::~HttpClient() { impl_->close(); }
void HttpClient::close() { impl_->close(); }

void HttpClient::cancel() {
  impl_->cancelled = true;
  // Runs inside the owner's next (or current) io_context::run(): the pending operation
  // ends with operation_aborted.
  Impl* im = impl_.get();
  net::post(im->ioc, [im] {
    beast::error_code ec;
    im->stream.socket().cancel(ec);
  });
}
bool HttpClient::cancelled() const { return impl_->cancelled; }

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string describe(const HttpClient::Impl& im, const beast::error_code& ec, double timeout_s) {
  if (im.cancelled) return "cancelled";
  if (ec == beast::error::timeout) return "timed out after " + std::to_string(timeout_s) + " s";
  return ec.message();
}

// One call: connect if needed, write, read the header, then the body piece by piece.
// on_chunk non-null: a 200 body goes there instead of into the response.
Result<HttpResponse> call(HttpClient::Impl& im, const HttpClientConfig& cfg, std::string_view method,
                          std::string_view target, std::string_view body, const std::string& bearer,
                          const CallOptions& opts, const HeadersFn* on_headers, const ChunkFn* on_chunk) {
  if (im.cancelled) return Status::errorf("{} {}: cancelled", method, target);
  const http::verb verb = http::string_to_verb(beast::string_view(method.data(), method.size()));
  if (verb == http::verb::unknown) return Status::errorf("unknown HTTP method {}", method);
  http::request<http::string_body> req{verb, cfg.url.base_path + std::string(target), 11};
  req.set(http::field::host, cfg.url.host + ":" + std::to_string(cfg.url.port));
  req.set(http::field::user_agent, "shardlm-bench");
  if (!body.empty()) req.set(http::field::content_type, opts.content_type);
  if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
  for (const auto& [name, value] : opts.headers) {
    if (name.find_first_of("\r\n:") != std::string::npos || value.find_first_of("\r\n") != std::string::npos) continue;
    req.set(beast::string_view(name.data(), name.size()), value);
  }
  req.keep_alive(true);
  req.body() = std::string(body);
  req.prepare_payload();

  const Clock::time_point start = Clock::now();
  auto after = [&](double s) { return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); };
  im.deadline = after(cfg.timeout_s);
  // The header deadline: the shorter of the two.
  const Clock::time_point header_deadline =
      opts.header_timeout_s > 0 ? std::min(im.deadline, after(opts.header_timeout_s)) : im.deadline;
  // A reused keep-alive connection may have been closed by the server meanwhile: one
  // retry on a fresh connection when nothing of the response arrived.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = im.connected;
    if (!im.connected) {
      if (auto ec = im.connect(cfg.url)) {
        im.close();
        return Status::errorf("connect {}:{}: {}", cfg.url.host, cfg.url.port, describe(im, ec, cfg.timeout_s));
      }
    }
    HttpResponse res;
    beast::error_code ec;
    res.sent_at = Clock::now();
    im.stream.expires_at(im.deadline);
    http::async_write(im.stream, req, [&](beast::error_code e, size_t) { ec = e; });
    im.run();
    http::response_parser<http::buffer_body> p;
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (!ec) {
      im.stream.expires_at(header_deadline);
      http::async_read_header(im.stream, im.buf, p, [&](beast::error_code e, size_t) { ec = e; });
      im.run();
    }
    if (ec) {
      im.close();
      if (reused && ec != beast::error::timeout && !im.cancelled) continue;
      const bool header_late = ec == beast::error::timeout && header_deadline < im.deadline;
      return Status::errorf("{} {}: {}", method, target,
                            header_late ? "no response header within " + std::to_string(opts.header_timeout_s) + " s"
                                        : describe(im, ec, cfg.timeout_s));
    }
    res.headers_at = Clock::now();
    res.status = static_cast<int>(p.get().result_int());
    for (const auto& f : p.get()) res.headers[lower(std::string(f.name_string()))] = std::string(f.value());
    const bool to_callback =
        on_chunk && *on_chunk && (on_headers && *on_headers ? (*on_headers)(res) : res.status == 200);
    char tmp[16384];
    while (!p.is_done()) {
      p.get().body().data = tmp;
      p.get().body().size = sizeof tmp;
      im.stream.expires_at(im.deadline);
      http::async_read_some(im.stream, im.buf, p, [&](beast::error_code e, size_t) { ec = e; });
      im.run();
      if (ec == http::error::need_buffer) ec = {};
      const size_t n = sizeof tmp - p.get().body().size;
      if (n > 0) {
        if (to_callback)
          (*on_chunk)(std::string_view(tmp, n), Clock::now());
        else
          res.body.append(tmp, n);
      }
      if (ec) {
        im.close();
        return Status::errorf("{} {}: reading the response: {}", method, target, describe(im, ec, cfg.timeout_s));
      }
    }
    res.done_at = Clock::now();
    if (!p.keep_alive()) im.close();
    return res;
  }
  return Status::errorf("{} {}: the connection was closed twice", method, target);
}

}  // namespace

Result<HttpResponse> HttpClient::request(std::string_view method, std::string_view target, std::string_view body,
                                         const std::string& bearer) {
  try {
    return call(*impl_, cfg_, method, target, body, bearer, CallOptions{}, nullptr, nullptr);
  } catch (const std::exception& e) {
    impl_->close();
    return Status::errorf("{} {}: {}", method, target, e.what());
  }
}

Result<HttpResponse> HttpClient::stream(std::string_view method, std::string_view target, std::string_view body,
                                        const std::string& bearer, const ChunkFn& on_chunk) {
  try {
    return call(*impl_, cfg_, method, target, body, bearer, CallOptions{}, nullptr, &on_chunk);
  } catch (const std::exception& e) {
    impl_->close();
    return Status::errorf("{} {}: {}", method, target, e.what());
  }
}

Result<HttpResponse> HttpClient::exchange(std::string_view method, std::string_view target, std::string_view body,
                                          const std::string& bearer, const CallOptions& opts,
                                          const HeadersFn& on_headers, const ChunkFn& on_chunk) {
  try {
    return call(*impl_, cfg_, method, target, body, bearer, opts, &on_headers, &on_chunk);
  } catch (const std::exception& e) {
    impl_->close();
    return Status::errorf("{} {}: {}", method, target, e.what());
  }
}

}  // namespace shardlm::client
