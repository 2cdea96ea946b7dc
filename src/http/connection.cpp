// Connection: the per-connection state machine of the HttpServer (see connection.h).
#include "http/connection.h"

#include <algorithm>
#include <chrono>

#include "http/http-auth.h"
#include "http/http-text.h"
#include "shardlm/core/log.h"

namespace shardlm::http::detail {

namespace {

// Beast 1.74's string_view is boost::string_view.
std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

std::chrono::steady_clock::duration seconds_to_duration(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

// Split a request target into path and query; absolute-form targets lose scheme and authority.
void split_target(std::string_view t, std::string& path, std::string& query) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (t.size() >= scheme.size() && iequals(t.substr(0, scheme.size()), scheme)) {
      t.remove_prefix(scheme.size());
      size_t slash = t.find('/');
      t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
      break;
    }
  }
  size_t q = t.find('?');
  path = std::string(t.substr(0, q));
  query = q == std::string_view::npos ? std::string() : std::string(t.substr(q + 1));
}

bool is_open_path(const HttpServerConfig& cfg, const std::string& target) {
  return std::find(cfg.open_paths.begin(), cfg.open_paths.end(), target) != cfg.open_paths.end();
}

}  // namespace

ServerCore::ServerCore(HttpServerConfig c, RouteTable r)
    : cfg(std::move(c)),
      routes(std::move(r)),
      acceptor(net::make_strand(ioc)),
      retry_timer(acceptor.get_executor()),
      limits(cfg.max_connections, cfg.max_connections_per_client, cfg.reserved_connections) {}

Connection::Connection(std::shared_ptr<ServerCore> core, tcp::socket socket, std::string addr, Admission admission)
    : core_(std::move(core)),
      stream_(std::move(socket)),
      ex_(stream_.get_executor()),
      addr_(std::move(addr)),
      admission_(admission),
      slot_held_(admission == Admission::full || admission == Admission::restricted) {
  error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  remote_ = ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  stream_.socket().non_blocking(true, ec);               // for the disconnect peek only
  stream_.socket().set_option(tcp::no_delay(true), ec);  // stream tokens without Nagle delay
  core_->open_conns.fetch_add(1);
}

Connection::~Connection() { release_slot(); }

// Exactly once per connection: when the socket closes, or at destruction.
void Connection::release_slot() {
  if (counted_) core_->open_conns.fetch_sub(1);
  counted_ = false;
  if (slot_held_) core_->limits.release(addr_);
  slot_held_ = false;
}

void Connection::start() {
  net::dispatch(ex_, [self = shared_from_this()] {
    if (self->core_->stopping) return self->close_now("server stopping");
    if (self->admission_ == Admission::reject_total || self->admission_ == Admission::reject_client) {
      const bool total = self->admission_ == Admission::reject_total;
      LOG_WARN("http: rejecting {}: {} (max {})", self->remote_,
               total ? "too many open connections" : "too many connections from this client",
               total ? self->core_->cfg.max_connections : self->core_->cfg.max_connections_per_client);
      return self->respond_error_and_close(overloaded(total ? "Too many open connections; retry later."
                                                            : "Too many open connections from this client; retry later."));
    }
    self->do_read();
  });
}

// A response whose last bytes are already queued is written out first (the proxy or
// engine thread that produced it has finished, so nothing else would deliver them),
// bounded by a short write deadline; everything else closes now.
void Connection::shutdown_for_stop() {
  if (phase_ == Phase::handling && last_queued_ && !aborting_) {
    close_after_ = true;
    set_timeout();
    if (!writing_) do_write();
    return;
  }
  close_now("server stopping");
}

void Connection::enqueue(uint64_t seq, std::string bytes, bool last, bool close_after) {
  core_->post(ex_, [self = shared_from_this(), seq, b = std::move(bytes), last, close_after]() mutable {
    self->on_enqueue(seq, std::move(b), last, close_after);
  });
}

void Connection::run(std::function<void()> fn) {
  core_->post(ex_, [self = shared_from_this(), f = std::move(fn)] {
    try {
      f();
    } catch (const std::exception& e) {
      LOG_ERROR("http: posted work threw: {}", e.what());
    }
  });
}

void Connection::abort(uint64_t seq) {
  core_->post(ex_, [self = shared_from_this(), seq] {
    if (self->phase_ != Phase::handling || seq != self->seq_ || self->last_queued_) return;
    self->last_queued_ = true;
    self->aborting_ = true;
    if (!self->writing_) self->do_write();
  });
}

// ---- reading ----------------------------------------------------------------------

void Connection::set_timeout() {
  if (core_->stopping) stream_.expires_after(std::chrono::seconds(2));  // the server's stop waits for this socket
  else if (core_->cfg.idle_timeout_s > 0) stream_.expires_after(seconds_to_duration(core_->cfg.idle_timeout_s));
  else stream_.expires_never();
}

void Connection::set_header_timeout() {
  const double h = core_->cfg.header_timeout_s, idle = core_->cfg.idle_timeout_s;
  if (h > 0 && (idle <= 0 || h < idle)) stream_.expires_after(seconds_to_duration(h));
  else set_timeout();
}

void Connection::do_read() {
  phase_ = Phase::reading;
  parser_.emplace();
  parser_->body_limit(static_cast<std::uint64_t>(core_->cfg.body_limit));
  if (first_request_ || buffer_.size() > 0) return read_header();
  // Keep-alive: wait for the next request's first byte under the idle timeout; the
  // header deadline starts with it.
  set_timeout();
  stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](error_code ec, size_t n) {
    if (self->phase_ != Phase::reading) return;
    if (ec) return self->close_now("idle: " + ec.message());
    self->buffer_.commit(n);
    self->read_header();
  });
}

void Connection::read_header() {
  first_request_ = false;
  set_header_timeout();
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           [self = shared_from_this()](error_code ec, size_t) { self->on_header(ec); });
}

void Connection::on_header(error_code ec) {
  if (phase_ != Phase::reading) return;
  if (ec) return on_read_error(ec);
  const auto& m = parser_->get();
  // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any request with several.
  const size_t hosts = m.count(bhttp::field::host);
  if ((m.version() >= 11 && hosts == 0) || hosts > 1)
    return respond_error_and_close(bad_request(hosts ? "More than one Host header." : "HTTP/1.1 requests need a Host header."));
  if (parser_->is_done()) return on_read({});
  if (m.version() >= 11 && iequals(trim_ows(sv(m[bhttp::field::expect])), "100-continue")) {
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    set_timeout();
    net::async_write(stream_, net::buffer(kContinue), [self = shared_from_this()](error_code wec, size_t) {
      if (self->phase_ != Phase::reading) return;
      if (wec) return self->close_now("write 100-continue: " + wec.message());
      self->read_body();
    });
    return;
  }
  read_body();
}

void Connection::read_body() {
  set_timeout();
  bhttp::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](error_code ec, size_t) { self->on_read(ec); });
}

void Connection::on_read_error(error_code ec) {
  static const auto& http_category = bhttp::make_error_code(bhttp::error::bad_method).category();
  if (ec == bhttp::error::body_limit) return respond_error_and_close(payload_too_large(core_->cfg.body_limit));
  if (ec == bhttp::error::header_limit) return respond_error_and_close(header_too_large());
  if (ec.category() == http_category && ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message)
    return respond_error_and_close(bad_request("Malformed HTTP request: " + ec.message() + "."));
  // end of stream, header deadline, timeout, reset, a request cut short: nothing to answer.
  close_now("read: " + ec.message());
}

void Connection::on_read(error_code ec) {
  if (phase_ != Phase::reading) return;
  if (ec) return on_read_error(ec);
  auto msg = parser_->release();
  parser_.reset();

  HttpRequest req;
  req.method = std::string(sv(msg.method_string()));
  split_target(sv(msg.target()), req.target, req.query);
  if (admission_ == Admission::restricted && !is_open_path(core_->cfg, req.target)) {
    LOG_WARN("http: {} {} from {} on a reserved connection (near max {}): rejected", req.method, req.target, remote_,
             core_->cfg.max_connections);
    return respond_error_and_close(overloaded("Too many open connections; retry later."));
  }
  for (const auto& f : msg) req.headers.emplace_back(std::string(sv(f.name_string())), std::string(sv(f.value())));
  req.body = std::move(msg.body());
  req.remote = remote_;
  req.version = msg.version() >= 11 ? 11 : 10;
  const bool keep_alive = msg.keep_alive() && !core_->stopping && admission_ == Admission::full;

  begin_response();
  auto sink = std::make_shared<ResponseSink>(shared_from_this(), seq_, req.version, keep_alive);
  sink_ = sink;
  arm_watch();
  LOG_DEBUG("http: {} {} from {}", req.method, req.target, req.remote);
  route(req, sink);
  // sink's last local reference ends here; a handler that kept none gets a 500 (see ~ResponseSink).
}

// ---- routing: the key first, then the path and the method ------------------------------

void Connection::route(const HttpRequest& req, const std::shared_ptr<ResponseSink>& sink) {
  auto pit = core_->routes.find(req.target);
  // A route registered as "/prefix/*" takes every "/prefix/<rest>" (rest non-empty).
  if (pit == core_->routes.end())
    if (auto slash = req.target.rfind('/'); slash != std::string::npos && slash + 1 < req.target.size())
      pit = core_->routes.find(req.target.substr(0, slash + 1) + "*");
  bool admin_route = false;
  if (pit != core_->routes.end())
    for (const auto& kv : pit->second) admin_route = admin_route || kv.second.admin;
  if (auto denied = check_auth(core_->cfg, req.target, admin_route, req.header("authorization"))) {
    sink->send_error(*denied);
    return;
  }
  if (pit == core_->routes.end()) {
    sink->send_error(not_found("No route for " + req.method + " " + req.target + ".", "not_found"));
    return;
  }
  auto mit = pit->second.find(req.method);
  if (mit == pit->second.end()) {
    std::string allow;
    for (const auto& kv : pit->second) allow += (allow.empty() ? "" : ", ") + kv.first;
    ApiError e = method_not_allowed(req.method, req.target);
    sink->send(e.status, "application/json", e.to_json(), {{"Allow", allow}});
    return;
  }
  try {
    mit->second.handler(req, sink);
  } catch (const std::exception& e) {
    handler_failed(req, sink, e.what());
  } catch (...) {
    handler_failed(req, sink, "unknown exception");
  }
}

void Connection::handler_failed(const HttpRequest& req, const std::shared_ptr<ResponseSink>& sink, const char* what) {
  LOG_ERROR("http: handler for {} {} threw: {}", req.method, req.target, what);
  if (!sink->answered()) {
    sink->send_error(internal_error("The server had an error while processing the request."));
  } else if (!sink->finished()) {
    // Mid-stream: cut the stream (the client sees a truncated response).
    abort(seq_);
  }  // a finished response is left alone
}

// ---- writing ----------------------------------------------------------------------

void Connection::begin_response() {
  phase_ = Phase::handling;
  ++seq_;
  last_queued_ = false;
  close_after_ = false;
  aborting_ = false;
}

void Connection::on_enqueue(uint64_t seq, std::string bytes, bool last, bool close_after) {
  if (phase_ != Phase::handling || seq != seq_ || last_queued_) return;
  if (!bytes.empty()) outq_.push_back(std::move(bytes));
  if (last) {
    last_queued_ = true;
    close_after_ = close_after || core_->stopping;
  }
  if (!writing_) do_write();
}

void Connection::do_write() {
  if (outq_.empty()) {
    if (last_queued_) finish_response();
    return;
  }
  inflight_.swap(outq_);
  wbufs_.clear();
  for (const auto& s : inflight_) wbufs_.push_back(net::buffer(s));
  writing_ = true;
  set_timeout();
  net::async_write(stream_, wbufs_, [self = shared_from_this()](error_code ec, size_t) { self->on_write(ec); });
}

void Connection::on_write(error_code ec) {
  writing_ = false;
  inflight_.clear();
  wbufs_.clear();
  if (phase_ != Phase::handling) return;
  if (ec) return close_now("write: " + ec.message());
  do_write();
}

void Connection::finish_response() {
  if (aborting_) return close_now("response aborted");  // tells a live sink: closed()
  sink_.reset();
  if (close_after_ || core_->stopping || admission_ != Admission::full) return linger_close();
  do_read();
}

// ---- disconnect watch ---------------------------------------------------------------

void Connection::arm_watch() {
  if (watch_armed_ || phase_ != Phase::handling) return;
  watch_armed_ = true;
  stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) { self->on_watch(ec); });
}

void Connection::on_watch(error_code ec) {
  watch_armed_ = false;
  if (phase_ != Phase::handling) return;  // stale: the response finished meanwhile
  if (ec) return close_now("wait: " + ec.message());
  char c;
  error_code pec;
  size_t n = stream_.socket().receive(net::buffer(&c, 1), tcp::socket::message_peek, pec);
  if (pec == net::error::would_block || pec == net::error::try_again) return arm_watch();
  if (pec || n == 0) return close_now("client went away");
  // Data: a pipelined request waits in the socket; leave it for the next read and
  // rely on write errors from here on (re-arming would fire at once, forever).
}

// ---- closing ------------------------------------------------------------------------

void Connection::respond_error_and_close(const ApiError& e) {
  parser_.reset();
  begin_response();
  auto sink = std::make_shared<ResponseSink>(shared_from_this(), seq_, 11, /*keep_alive=*/false);
  sink->send_error(e);
}

void Connection::linger_close() {
  phase_ = Phase::closing;
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.expires_after(std::chrono::seconds(2));
  drain();
}

void Connection::drain() {
  stream_.async_read_some(net::buffer(drain_buf_), [self = shared_from_this()](error_code ec, size_t) {
    if (self->phase_ != Phase::closing) return;
    if (ec) return self->close_now("closed");
    self->drain();
  });
}

void Connection::close_now(const std::string& why) {
  if (phase_ == Phase::closed) return;
  bool pending = phase_ == Phase::handling;
  phase_ = Phase::closed;
  LOG_DEBUG("http: closing connection {}: {}", remote_, why);
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
  release_slot();
  outq_.clear();
  parser_.reset();
  if (pending) {
    if (auto s = sink_.lock()) s->notify_client_gone();
  }
  sink_.reset();
}

}  // namespace shardlm::http::detail
