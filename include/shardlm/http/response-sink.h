// ResponseSink: where a route handler writes its answer to one HTTP request, either one
// full response (send) or a chunked stream (start_stream, write..., end).
//
// Threads: every method is safe from ANY thread (an HTTP io thread, the engine thread)
// and never blocks on the network: it formats bytes under a small mutex and hands them
// to the connection, which posts them to its strand and writes them there, in call
// order. Calls from several threads are ordered by who takes the mutex first.
//
// Lifecycle of one sink: idle → (send → done) | (start_stream → streaming → end → done).
// A call out of order (send twice, write before start_stream, anything after done) is a
// bug in the caller: it is ignored, logged, and returns false. Every call also returns
// false once the client is gone, so the engine can notice a cancel from write()'s result.
//
// Client gone: the connection notices a disconnect while a response is pending or
// streaming (see server.h for how) and calls notify_client_gone() on an io thread:
// closed() becomes true and the on_close callback runs once (only if the response was
// not finished yet). The callback must not block and must not throw.
//
// Dropped sink: if the last reference goes away while idle, the client gets a 500 error
// object; while streaming, the connection is closed without the final chunk (the
// client sees a truncated response, never a falsely complete one).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shardlm/http/api-error.h"

namespace shardlm::http {

// Extra response (or request) header fields, in order: {name, value}.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// What a sink writes into: the server's connection, or a fake in tests. Both calls may
// come from any thread and must not block.
class ResponseSinkTarget {
 public:
  virtual ~ResponseSinkTarget() = default;
  // Append raw bytes of response `seq` to the write queue (in call order). last: the
  // response is complete after them; close_after: then close the connection.
  virtual void enqueue(uint64_t seq, std::string bytes, bool last, bool close_after) = 0;
  // Response `seq` cannot be completed: write what is queued, then close the connection.
  virtual void abort(uint64_t seq) = 0;
  // Runs fn on the connection's own thread (its strand), after what is queued there;
  // dropped when the server stops. A fake target may run it at once.
  virtual void run(std::function<void()> fn) { fn(); }
};

class ResponseSink {
 public:
  // Made by the server per request. seq: the request's number on its connection;
  // http_version: 10 or 11; keep_alive: what the request asked for (false → the
  // response says "Connection: close" and the connection closes after it).
  ResponseSink(std::shared_ptr<ResponseSinkTarget> target, uint64_t seq, int http_version, bool keep_alive);
  ~ResponseSink();
  ResponseSink(const ResponseSink&) = delete;
  ResponseSink& operator=(const ResponseSink&) = delete;

  // One full response with Content-Length. headers: extra fields; Content-Length,
  // Transfer-Encoding and Connection are the sink's own and are dropped from `headers`,
  // as is any field containing CR or LF.
  bool send(int status, std::string_view content_type, std::string body, const HttpHeaders& headers = {});
  bool send_json(int status, std::string json_body, const HttpHeaders& headers = {}) {
    return send(status, "application/json", std::move(json_body), headers);
  }
  // An ApiError as its JSON object (adds Retry-After / WWW-Authenticate where due).
  bool send_error(const ApiError& error);

  // Start a streamed response: chunked transfer encoding (HTTP/1.1), or raw bytes and
  // close at the end (HTTP/1.0). SSE callers add their own "Cache-Control: no-cache".
  bool start_stream(int status = 200, std::string_view content_type = "text/event-stream",
                    const HttpHeaders& headers = {});
  // One chunk (e.g. "data: {...}\n\n"). An empty chunk is skipped (it would end the stream).
  bool write(std::string chunk);
  // The final zero-length chunk; the connection then goes on with keep-alive.
  bool end();

  bool closed() const;    // the client went away (or the server stopped) before the end
  bool answered() const;  // send() or start_stream() was accepted
  bool finished() const;  // send() or end() was accepted
  // cb runs at most once: on an io thread when the client disconnects before the
  // response is finished, or at once on the calling thread if it already has. Replaces
  // a callback that has not run yet.
  void on_close(std::function<void()> cb);

  // Called by the connection (io thread) when the client is gone; idempotent.
  void notify_client_gone();

  // Runs fn on the connection's io thread, in order with other posted work: where a
  // producer on another thread (the engine) hands its results to be formatted. fn must
  // not throw. Never blocks.
  void post(std::function<void()> fn);

 private:
  enum class Phase { idle, streaming, done };
  std::string format_head(int status, std::string_view content_type, const HttpHeaders& headers,
                          bool chunked, size_t content_length) const;

  const std::shared_ptr<ResponseSinkTarget> target_;
  const uint64_t seq_;
  const int http_version_;
  const bool keep_alive_;

  mutable std::mutex mu_;           // guards everything below and orders enqueue calls
  Phase phase_ = Phase::idle;
  bool closed_ = false;
  std::function<void()> on_close_;
};

}  // namespace shardlm::http
