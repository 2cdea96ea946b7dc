// One client connection of the HttpServer and the core it shares with the server, its
// io threads and live sinks (see server.h). Private to src/http.
//
// Connection states (all on the connection's strand):
//   reading  → waiting for / parsing a request: the header deadline covers the request
//              line and headers (from accept, or from the first byte of a keep-alive
//              request; the idle timeout covers the wait for that byte), the idle
//              timeout the body
//   handling → a request was dispatched; its sink's bytes are written as they arrive;
//              a readability wait watches for the client going away
//   closing  → the last response said "Connection: close": send side shut down, the
//              rest of the input is drained for a short while so the client reads the
//              response instead of a reset
//   closed   → socket closed; the object lives on while sinks or handlers hold it
#pragma once
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/conn-limits.h"
#include "shardlm/http/server.h"

namespace shardlm::http::detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

class Connection;

// Shared by the HttpServer, its io threads, connections and (through them) live sinks.
struct ServerCore {
  ServerCore(HttpServerConfig c, RouteTable r);

  const HttpServerConfig cfg;
  const RouteTable routes;
  net::io_context ioc;
  tcp::acceptor acceptor;        // acceptor strand only
  net::steady_timer retry_timer; // acceptor strand only: back-off after accept errors
  std::atomic<bool> stopping{false};
  std::atomic<bool> accepting{true};  // false after stop_accepting(): the listener is closed
  std::atomic<int> open_conns{0};  // Connection objects with an open socket
  ConnLimits limits;               // admission: slots per client address and in total

  std::mutex conns_mu;                        // guards conns and the stopping transition
  std::vector<std::weak_ptr<Connection>> conns;

  std::shared_mutex post_mu;  // posts (shared) vs the final drain in stop() (unique)
  bool posts_open = true;     // false once stop() has joined the io threads

  // Post f to ex unless the server has stopped for good (then nothing would run it).
  template <class F>
  void post(const net::any_io_executor& ex, F&& f) {
    std::shared_lock<std::shared_mutex> lock(post_mu);
    if (posts_open) net::post(ex, std::forward<F>(f));
  }
};

class Connection : public ResponseSinkTarget, public std::enable_shared_from_this<Connection> {
 public:
  // addr: the client's address (no port), already admitted as admission says.
  Connection(std::shared_ptr<ServerCore> core, tcp::socket socket, std::string addr, Admission admission);
  ~Connection() override;

  const net::any_io_executor& executor() const { return ex_; }
  void start();                // any thread
  void shutdown_for_stop();    // strand

  void enqueue(uint64_t seq, std::string bytes, bool last, bool close_after) override;
  void run(std::function<void()> fn) override;
  void abort(uint64_t seq) override;  // write what is queued, then close without completing

 private:
  enum class Phase { reading, handling, closing, closed };

  void set_timeout();
  void set_header_timeout();
  void do_read();
  void read_header();
  void on_header(error_code ec);
  void read_body();
  void on_read_error(error_code ec);
  void on_read(error_code ec);
  void route(const HttpRequest& req, const std::shared_ptr<ResponseSink>& sink);
  void handler_failed(const HttpRequest& req, const std::shared_ptr<ResponseSink>& sink, const char* what);
  void begin_response();
  void on_enqueue(uint64_t seq, std::string bytes, bool last, bool close_after);
  void do_write();
  void on_write(error_code ec);
  void finish_response();
  void arm_watch();
  void on_watch(error_code ec);
  void respond_error_and_close(const ApiError& e);
  void linger_close();
  void drain();
  void close_now(const std::string& why);
  void release_slot();

  std::shared_ptr<ServerCore> core_;
  beast::tcp_stream stream_;
  const net::any_io_executor ex_;  // the connection's strand
  std::string remote_;             // "address:port" for logs and HttpRequest::remote
  const std::string addr_;         // the address its ConnLimits slot is counted under
  const Admission admission_;
  bool slot_held_;                 // a ConnLimits slot to release (full / restricted)
  bool counted_ = true;            // counted in core_->open_conns

  // Strand only:
  Phase phase_ = Phase::reading;
  bool first_request_ = true;  // the header deadline runs from accept
  beast::flat_buffer buffer_;  // kept across requests: may hold a pipelined request
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  uint64_t seq_ = 0;                  // number of the current request on this connection
  std::weak_ptr<ResponseSink> sink_;  // the pending response's sink, to tell it the client left
  bool watch_armed_ = false;
  std::vector<std::string> outq_;     // bytes queued by the sink, not yet being written
  std::vector<std::string> inflight_; // bytes of the write in progress
  std::vector<net::const_buffer> wbufs_;
  bool writing_ = false;
  bool last_queued_ = false;  // the response's last bytes are in outq_/inflight_ or written
  bool close_after_ = false;
  bool aborting_ = false;     // abort(): close once the queue is written
  std::array<char, 4096> drain_buf_{};
};

}  // namespace shardlm::http::detail
