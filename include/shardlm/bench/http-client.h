// HttpClient: a small synchronous HTTP/1.1 client (Boost.Beast) for the benchmark tool.
// One keep-alive connection, reopened when the server closes it; every call has a
// deadline (connect + send + the whole response); a streamed body is handed over piece
// by piece, each piece stamped with the steady_clock time its read completed.
//
// Threads and ownership: an HttpClient (its io_context, socket and buffers) belongs to
// the one thread that calls it; use one client per worker thread. Nothing throws out of
// the API: failures (refused, reset, timed out) come back as Result errors.
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

namespace shardlm::bench {

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

struct HttpClientConfig {
  Url url;                 // server
  double timeout_s = 600;  // per call: connect + send + the whole response (default 600)
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields sent with every request (default none)
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
  // Closes the connection (the next call reconnects).
  void close();
  const HttpClientConfig& config() const { return cfg_; }

  struct Impl;  // the connection (opaque)

 private:
  HttpClientConfig cfg_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardlm::bench
