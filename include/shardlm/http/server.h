// HttpServer: the generic HTTP/1.1 frontend on rank 0 (Boost.Beast/Asio). It knows
// nothing of OpenAI or models: a route gets an HttpRequest and a ResponseSink.
//
// Threads and ownership:
// - start() spawns config.threads io threads running one io_context. Each connection
//   has its own strand; all its socket work, parsing and handler calls run there.
// - Handlers run on an io thread and must return quickly (parse, validate, queue work
//   for the engine). They may answer at once or later from any thread through the
//   sink; until the sink is answered the connection waits (one request at a time per
//   connection: the next request is read only after the response is finished).
// - Nothing throws through the HTTP layer: a handler that throws gets a 500 error
//   object (or, mid-stream, a closed connection); a dropped sink gets a 500 too.
// - The server's core (io_context, sockets) is shared with live sinks, so the engine may
//   hold a sink past stop() or past the HttpServer's destruction: calls then return false.
//
// Protocol behaviour: keep-alive (HTTP/1.1 default, HTTP/1.0 on request), chunked
// streaming, "Expect: 100-continue", body limit → 413, header block over 8 KiB → 431,
// headers not complete within header_timeout_s → closed, malformed request, HTTP/1.1
// without Host or several Host fields → 400 and close, unknown path → 404, known path
// with another method → 405 with "Allow" (both after the key check).
//
// Admission (http/conn-limits.h): past max_connections or max_connections_per_client
// from one address → 503 and close at once; the last reserved_connections slots serve
// one request for an open path each (/health), anything else → 503. Paths match exactly (no trailing-slash folding); the query
// is split off into HttpRequest::query, undecoded.
//
// Client disconnect while a response is pending or streaming: besides write errors,
// the connection keeps a zero-byte wait for readability on the socket; when it fires
// it peeks one byte: EOF or an error means the client is gone (→ sink closed(),
// on_close). A client that half-closes (shutdown(SHUT_WR)) after its request is
// therefore taken as gone. If the peek finds data (a pipelined next request) the wait
// is not re-armed and a disconnect is only noticed by the next failing write.
//
// Auth: api_key non-empty → every route needs "Authorization: Bearer <api_key>", except
// admin routes and config.open_paths. Admin routes (route(..., admin=true) or any path
// starting with "/admin/") need the admin_key when set; with admin_key empty they need
// the api_key; with both empty they are open (the default bind is 127.0.0.1). The
// admin key does not open API routes. Keys are compared in constant time and checked
// before routing: an unknown path needs the API key (the admin key under /admin/), so
// a client without a key gets 401, never 404 or 405. Failure: 401 with an
// authentication_error object and "WWW-Authenticate: Bearer".
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/http/api-error.h"
#include "shardlm/http/response-sink.h"

namespace shardlm::http {

struct HttpServerConfig {
  std::string host = "127.0.0.1";  // address or name to bind ("0.0.0.0", "::", "localhost")
  int port = 8080;                 // 0 = ephemeral (tests); bound_port() tells which
  int threads = 2;                 // io threads
  size_t body_limit = 8 << 20;     // bytes of request body; larger → 413 and close
  std::string api_key;             // "" = API routes open; else Bearer key on API routes
  std::string admin_key;           // "" = admin routes use api_key (open if that is "" too)
  std::vector<std::string> open_paths = {"/health", "/metrics"};  // never need a key
  double idle_timeout_s = 300;     // keep-alive idle close; also the limit for a body and for each write
  // The request line and headers must be complete this long after the connection opened
  // (first request) or after its first byte arrived (later keep-alive requests); else the
  // connection is closed without an answer. 0 = only idle_timeout_s.
  double header_timeout_s = 10;
  int max_connections = 1024;      // open sockets; beyond → 503 error object and close
  // Open sockets per client address (IP, port ignored); beyond → 503 and close at once.
  int max_connections_per_client = 64;
  // The last reserved_connections of max_connections serve only open_paths (/health,
  // /metrics), one request each, so that a full server still answers its health check;
  // any other request on them → 503. 0 = no reserve. Must be < max_connections.
  int reserved_connections = 16;
};

struct HttpRequest {
  std::string method;   // as sent, case-sensitive: "GET", "POST"
  std::string target;   // path without query: "/v1/models"
  std::string query;    // after '?', undecoded; "" if none
  std::string body;
  HttpHeaders headers;  // as received, in order
  std::string remote;   // peer "address:port"
  int version = 11;     // 10 or 11

  // The first field with this name (case-insensitive), "" if absent.
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

using Handler = std::function<void(const HttpRequest&, std::shared_ptr<ResponseSink>)>;

namespace detail {
struct ServerCore;
struct RouteEntry {
  Handler handler;
  bool admin = false;
};
using RouteTable = std::map<std::string, std::map<std::string, RouteEntry>>;  // path → method → route
}  // namespace detail

class HttpServer {
 public:
  HttpServer();
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Register before start(); a second route for the same method and path replaces the first.
  // A path ending in "/*" (e.g. "/admin/sessions/*") takes every target under it with
  // one more non-empty segment, when no exact route matches (the handler reads req.target).
  void route(const std::string& method, const std::string& path, Handler handler, bool admin = false);

  // Bind, listen and spawn the io threads. Error: bad config, host not resolvable,
  // port in use, or already started.
  Status start(const HttpServerConfig& config);
  // Close the listener and every connection (pending sinks see closed() and on_close),
  // then join the io threads. Prompt; idempotent. Must not be called from a handler.
  void stop();
  // Close the listener only: no new connections; open ones go on (a graceful drain).
  // stop() later closes them. Any thread; idempotent; a no-op before start().
  void stop_accepting();
  int bound_port() const;       // 0 before start()
  int open_connections() const; // open client sockets now

 private:
  detail::RouteTable routes_;  // copied into the core at start()
  std::shared_ptr<detail::ServerCore> core_;
  std::vector<std::thread> threads_;
  std::atomic<int> port_{0};
};

}  // namespace shardlm::http
