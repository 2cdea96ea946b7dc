// HttpClient: a small synchronous HTTP/1.1 client (Boost.Beast), used by the benchmark
// tool and by the router (its upstream calls and health checks). One keep-alive
// connection, reopened when the server closes it; every call has a deadline (connect +
// send + the whole response) and optionally a shorter one for the response header; a
// streamed body is handed over piece by piece, each piece stamped with the steady_clock
// time its read completed.
//
// Threads and ownership: an HttpClient (its io_context, socket and buffers) belongs to
// the one thread that calls it; use one client per worker thread. The one exception is
// cancel(), which any thread may call while the client is alive: the call in progress
// (or the next one) fails with "cancelled". Nothing throws out of the API: failures
// (refused, reset, timed out, cancelled) come back as Result errors.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shardlm/core/status.h"

namespace shardlm::client {

using Clock = std::chrono::steady_clock;

// "http://host:port[/prefix]"; the prefix (default "") is put in front of every target.
struct Url {
  std::string host;         // name or address
  int port = 80;            // default 80
  std::string base_path;    // "" or "/prefix" (no trailing '/')
};
Result<Url> parse_url(const std::string& text);

struct HttpResponse {
  int status = 0;                              // HTTP status code
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // whole body (not for a streamed 200)
  Clock::time_point sent_at;                   // just before the request was written
  Clock::time_point headers_at;                // when the response header was parsed
  Clock::time_point done_at;                   // when the response was complete
};

// Receives one piece of a streamed body and the time its read completed.
using ChunkFn = std::function<void(std::string_view bytes, Clock::time_point t)>;
// Sees the status and headers (body still empty) before the body is read; returns true
// to have the body handed to the ChunkFn, false to read it whole into the response.
using HeadersFn = std::function<bool(const HttpResponse& head)>;

// Extras of one call.
struct CallOptions {
  std::vector<std::pair<std::string, std::string>> headers;  // extra request fields (CR/LF dropped)
  std::string content_type = "application/json";           // of a non-empty body
  double header_timeout_s = 0;  // > 0: the response header must arrive this long after the call began
};

struct HttpClientConfig {
  Url url;                 // server
  double timeout_s = 600;  // per call: connect + send + the whole response (default 600)
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientConfig cfg);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends METHOD target (a JSON body when non-empty; "Authorization: Bearer" when
  // bearer is non-empty) and reads the whole response.
  Result<HttpResponse> request(std::string_view method, std::string_view target, std::string_view body = {},
                               const std::string& bearer = {});
  // Like request(), but when the status is 200 the body goes to on_chunk as it arrives
  // (HttpResponse::body stays empty); any other status reads the body whole.
  Result<HttpResponse> stream(std::string_view method, std::string_view target, std::string_view body,
                              const std::string& bearer, const ChunkFn& on_chunk);
  // The general call: extra headers and deadlines (opts), a look at the response head
  // (on_headers, may be empty: then a 200 body goes to on_chunk when that is set).
  Result<HttpResponse> exchange(std::string_view method, std::string_view target, std::string_view body,
                                const std::string& bearer, const CallOptions& opts, const HeadersFn& on_headers,
                                const ChunkFn& on_chunk);
  // Any thread: fail the call in progress, and every later one, with "cancelled".
  void cancel();
  bool cancelled() const;
  // Closes the connection (the next call reconnects).
  void close();
  const HttpClientConfig& config() const { return cfg_; }

  struct Impl;  // the connection (opaque)

 private:
  HttpClientConfig cfg_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardlm::client
