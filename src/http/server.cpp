// HttpServer: acceptor, per-connection state machine, routing and auth (see server.h).
//
// Connection states (all on the connection's strand):
//   reading  → waiting for / parsing a request (idle timeout applies)
//   handling → a request was dispatched; its sink's bytes are written as they arrive;
//              a readability wait watches for the client going away
//   closing  → the last response said "Connection: close": send side shut down, the
//              rest of the input is drained for a short while so the client reads the
//              response instead of a reset
//   closed   → socket closed; the object lives on while sinks or handlers hold it
#include "shardlm/http/server.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <shared_mutex>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "shardlm/core/log.h"

namespace shardlm::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// Beast 1.74's string_view is boost::string_view.
std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Constant-time in the key's content (the length may leak).
bool keys_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() != b.size() ? 1 : 0;
  size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

// "Authorization: Bearer <key>" (scheme case-insensitive, RFC 7235).
bool bearer_matches(std::string_view auth, const std::string& key) {
  auth = trim(auth);
  if (auth.size() < 7 || !iequals(auth.substr(0, 6), "bearer") || (auth[6] != ' ' && auth[6] != '\t'))
    return false;
  return keys_equal(trim(auth.substr(7)), key);
}

bool is_loopback(const std::string& host) {
  error_code ec;
  auto addr = net::ip::make_address(host, ec);
  if (ec) return host == "localhost";
  return addr.is_loopback();
}

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

}  // namespace

std::string_view HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

bool HttpRequest::has_header(std::string_view name) const {
  for (const auto& kv : headers)
    if (iequals(kv.first, name)) return true;
  return false;
}

namespace detail {

class Connection;

// Shared by the HttpServer, its io threads, connections and (through them) live sinks.
struct ServerCore {
  ServerCore(HttpServerConfig c, RouteTable r)
      : cfg(std::move(c)), routes(std::move(r)), acceptor(net::make_strand(ioc)), retry_timer(acceptor.get_executor()) {}

  const HttpServerConfig cfg;
  const RouteTable routes;
  net::io_context ioc;
  tcp::acceptor acceptor;        // acceptor strand only
  net::steady_timer retry_timer; // acceptor strand only: back-off after accept errors
  std::atomic<bool> stopping{false};
  std::atomic<int> open_conns{0};

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
  Connection(std::shared_ptr<ServerCore> core, tcp::socket socket)
      : core_(std::move(core)), stream_(std::move(socket)), ex_(stream_.get_executor()) {
    error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    remote_ = ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
    stream_.socket().non_blocking(true, ec);            // for the disconnect peek only
    stream_.socket().set_option(tcp::no_delay(true), ec);  // stream tokens without Nagle delay
    core_->open_conns.fetch_add(1);
  }

  ~Connection() override {
    if (phase_ != Phase::closed) core_->open_conns.fetch_sub(1);
  }

  const net::any_io_executor& executor() const { return ex_; }

  // Any thread. reject: answer 503 (too many connections) and close.
  void start(bool reject) {
    net::dispatch(ex_, [self = shared_from_this(), reject] {
      if (self->core_->stopping) return self->close_now("server stopping");
      if (reject) {
        LOG_WARN("http: {} connections open (max {}); rejecting {}", self->core_->open_conns.load(),
                 self->core_->cfg.max_connections, self->remote_);
        return self->respond_error_and_close(overloaded("Too many open connections; retry later."));
      }
      self->do_read();
    });
  }

  void shutdown_for_stop() { close_now("server stopping"); }  // strand

  void enqueue(uint64_t seq, std::string bytes, bool last, bool close_after) override {
    core_->post(ex_, [self = shared_from_this(), seq, b = std::move(bytes), last, close_after]() mutable {
      self->on_enqueue(seq, std::move(b), last, close_after);
    });
  }

  void run(std::function<void()> fn) override {
    core_->post(ex_, [self = shared_from_this(), f = std::move(fn)] {
      try {
        f();
      } catch (const std::exception& e) {
        LOG_ERROR("http: posted work threw: {}", e.what());
      }
    });
  }

  // Write what is queued, then close without completing the response.
  void abort(uint64_t seq) override {
    core_->post(ex_, [self = shared_from_this(), seq] {
      if (self->phase_ != Phase::handling || seq != self->seq_ || self->last_queued_) return;
      self->last_queued_ = true;
      self->aborting_ = true;
      if (!self->writing_) self->do_write();
    });
  }

 private:
  enum class Phase { reading, handling, closing, closed };

  // ---- reading ----------------------------------------------------------------------

  void set_timeout() {
    if (core_->cfg.idle_timeout_s > 0) stream_.expires_after(seconds_to_duration(core_->cfg.idle_timeout_s));
    else stream_.expires_never();
  }

  void do_read() {
    phase_ = Phase::reading;
    parser_.emplace();
    parser_->body_limit(static_cast<std::uint64_t>(core_->cfg.body_limit));
    set_timeout();
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (phase_ != Phase::reading) return;
    if (ec) return on_read_error(ec);
    if (parser_->is_done()) return on_read({});
    const auto& m = parser_->get();
    if (m.version() >= 11 && iequals(trim(sv(m[bhttp::field::expect])), "100-continue")) {
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

  void read_body() {
    set_timeout();
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read_error(error_code ec) {
    static const auto& http_category = bhttp::make_error_code(bhttp::error::bad_method).category();
    if (ec == bhttp::error::body_limit) return respond_error_and_close(payload_too_large(core_->cfg.body_limit));
    if (ec == bhttp::error::header_limit) return respond_error_and_close(header_too_large());
    if (ec.category() == http_category && ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message)
      return respond_error_and_close(bad_request("Malformed HTTP request: " + ec.message() + "."));
    // end of stream, timeout, reset, a request cut short: nothing to answer.
    close_now("read: " + ec.message());
  }

  void on_read(error_code ec) {
    if (phase_ != Phase::reading) return;
    if (ec) return on_read_error(ec);
    auto msg = parser_->release();
    parser_.reset();

    HttpRequest req;
    req.method = std::string(sv(msg.method_string()));
    split_target(sv(msg.target()), req.target, req.query);
    for (const auto& f : msg) req.headers.emplace_back(std::string(sv(f.name_string())), std::string(sv(f.value())));
    req.body = std::move(msg.body());
    req.remote = remote_;
    req.version = msg.version() >= 11 ? 11 : 10;
    bool keep_alive = msg.keep_alive() && !core_->stopping;

    begin_response();
    auto sink = std::make_shared<ResponseSink>(shared_from_this(), seq_, req.version, keep_alive);
    sink_ = sink;
    arm_watch();
    LOG_DEBUG("http: {} {} from {}", req.method, req.target, req.remote);
    route(req, sink);
    // sink's last local reference ends here; a handler that kept none gets a 500 (see ~ResponseSink).
  }

  // ---- routing ----------------------------------------------------------------------

  void route(const HttpRequest& req, const std::shared_ptr<ResponseSink>& sink) {
    const auto& cfg = core_->cfg;
    auto pit = core_->routes.find(req.target);
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
    const RouteEntry& entry = mit->second;

    bool admin = entry.admin || req.target.rfind("/admin/", 0) == 0;
    const std::string* key = nullptr;
    if (admin) {
      key = !cfg.admin_key.empty() ? &cfg.admin_key : &cfg.api_key;
    } else if (std::find(cfg.open_paths.begin(), cfg.open_paths.end(), req.target) == cfg.open_paths.end()) {
      key = &cfg.api_key;
    }
    if (key && !key->empty()) {
      std::string_view auth = req.header("authorization");
      if (auth.empty()) {
        sink->send_error(unauthorized("Missing API key: send the header 'Authorization: Bearer <key>'."));
        return;
      }
      if (!bearer_matches(auth, *key)) {
        sink->send_error(unauthorized("Incorrect API key provided."));
        return;
      }
    }

    try {
      entry.handler(req, sink);
    } catch (const std::exception& e) {
      handler_failed(req, sink, e.what());
    } catch (...) {
      handler_failed(req, sink, "unknown exception");
    }
  }

  void handler_failed(const HttpRequest& req, const std::shared_ptr<ResponseSink>& sink, const char* what) {
    LOG_ERROR("http: handler for {} {} threw: {}", req.method, req.target, what);
    if (!sink->answered()) {
      sink->send_error(internal_error("The server had an error while processing the request."));
    } else if (!sink->finished()) {
      // Mid-stream: cut the stream (the client sees a truncated response).
      abort(seq_);
    }  // a finished response is left alone
  }

  // ---- writing ----------------------------------------------------------------------

  void begin_response() {
    phase_ = Phase::handling;
    ++seq_;
    last_queued_ = false;
    close_after_ = false;
    aborting_ = false;
  }

  void on_enqueue(uint64_t seq, std::string bytes, bool last, bool close_after) {
    if (phase_ != Phase::handling || seq != seq_ || last_queued_) return;
    if (!bytes.empty()) outq_.push_back(std::move(bytes));
    if (last) {
      last_queued_ = true;
      close_after_ = close_after || core_->stopping;
    }
    if (!writing_) do_write();
  }

  void do_write() {
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

  void on_write(error_code ec) {
    writing_ = false;
    inflight_.clear();
    wbufs_.clear();
    if (phase_ != Phase::handling) return;
    if (ec) return close_now("write: " + ec.message());
    do_write();
  }

  void finish_response() {
    if (aborting_) return close_now("response aborted");  // tells a live sink: closed()
    sink_.reset();
    if (close_after_ || core_->stopping) return linger_close();
    do_read();
  }

  // ---- disconnect watch ---------------------------------------------------------------

  void arm_watch() {
    if (watch_armed_ || phase_ != Phase::handling) return;
    watch_armed_ = true;
    stream_.socket().async_wait(tcp::socket::wait_read,
                                [self = shared_from_this()](error_code ec) { self->on_watch(ec); });
  }

  void on_watch(error_code ec) {
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

  void respond_error_and_close(const ApiError& e) {
    parser_.reset();
    begin_response();
    auto sink = std::make_shared<ResponseSink>(shared_from_this(), seq_, 11, /*keep_alive=*/false);
    sink->send_error(e);
  }

  void linger_close() {
    phase_ = Phase::closing;
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(drain_buf_), [self = shared_from_this()](error_code ec, size_t) {
      if (self->phase_ != Phase::closing) return;
      if (ec) return self->close_now("closed");
      self->drain();
    });
  }

  void close_now(const std::string& why) {
    if (phase_ == Phase::closed) return;
    bool pending = phase_ == Phase::handling;
    phase_ = Phase::closed;
    LOG_DEBUG("http: closing connection {}: {}", remote_, why);
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    core_->open_conns.fetch_sub(1);
    outq_.clear();
    parser_.reset();
    if (pending) {
      if (auto s = sink_.lock()) s->notify_client_gone();
    }
    sink_.reset();
  }

  std::shared_ptr<ServerCore> core_;
  beast::tcp_stream stream_;
  const net::any_io_executor ex_;  // the connection's strand
  std::string remote_;

  // Strand only:
  Phase phase_ = Phase::reading;
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

namespace {

void do_accept(const std::shared_ptr<ServerCore>& core);

void on_accept(const std::shared_ptr<ServerCore>& core, error_code ec, tcp::socket socket) {
  if (core->stopping || ec == net::error::operation_aborted) return;
  if (ec) {
    // EMFILE and friends: back off instead of spinning.
    LOG_WARN("http: accept failed: {}; retrying in 100 ms", ec.message());
    core->retry_timer.expires_after(std::chrono::milliseconds(100));
    core->retry_timer.async_wait([core](error_code tec) {
      if (!tec && !core->stopping) do_accept(core);
    });
    return;
  }
  auto conn = std::make_shared<Connection>(core, std::move(socket));
  {
    std::lock_guard<std::mutex> lock(core->conns_mu);
    if (core->stopping) return;
    std::erase_if(core->conns, [](const std::weak_ptr<Connection>& w) { return w.expired(); });
    core->conns.push_back(conn);
  }
  conn->start(core->open_conns.load() > core->cfg.max_connections);
  do_accept(core);
}

void do_accept(const std::shared_ptr<ServerCore>& core) {
  core->acceptor.async_accept(net::make_strand(core->ioc), [core](error_code ec, tcp::socket socket) {
    on_accept(core, ec, std::move(socket));
  });
}

void run_io(const std::shared_ptr<ServerCore>& core) {
  for (;;) {
    try {
      core->ioc.run();
      return;
    } catch (const std::exception& e) {
      LOG_ERROR("http: exception escaped an io handler: {}", e.what());
    } catch (...) {
      LOG_ERROR("http: unknown exception escaped an io handler");
    }
  }
}

}  // namespace
}  // namespace detail

HttpServer::HttpServer() = default;

HttpServer::~HttpServer() { stop(); }

void HttpServer::route(const std::string& method, const std::string& path, Handler handler, bool admin) {
  if (core_) {
    LOG_ERROR("http: route {} {} registered after start(); ignored", method, path);
    return;
  }
  auto& slot = routes_[path][method];
  if (slot.handler) LOG_WARN("http: route {} {} registered twice; the later one wins", method, path);
  slot = detail::RouteEntry{std::move(handler), admin};
}

Status HttpServer::start(const HttpServerConfig& config) {
  if (core_) return Status::error("http: server already started");
  if (config.port < 0 || config.port > 65535) return Status::errorf("http: bad port {}", config.port);
  if (config.threads < 1) return Status::errorf("http: threads must be >= 1 (got {})", config.threads);
  if (config.max_connections < 1)
    return Status::errorf("http: max_connections must be >= 1 (got {})", config.max_connections);

  auto core = std::make_shared<detail::ServerCore>(config, routes_);
  error_code ec;
  tcp::endpoint ep;
  auto addr = net::ip::make_address(config.host, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, static_cast<unsigned short>(config.port));
  } else {
    tcp::resolver resolver(core->ioc);
    auto results = resolver.resolve(config.host, std::to_string(config.port), ec);
    if (ec || results.empty())
      return Status::errorf("http: cannot resolve host '{}': {}", config.host, ec ? ec.message() : "no address");
    ep = results.begin()->endpoint();
  }

  auto& acc = core->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status::errorf("http: cannot listen on {}:{}: {}", config.host, config.port, ec.message());
  int port = acc.local_endpoint(ec).port();
  if (ec) return Status::errorf("http: cannot read the bound port: {}", ec.message());

  if (!is_loopback(config.host)) {
    if (config.api_key.empty()) LOG_WARN("http: listening on {} with no API key: the API is open", config.host);
    if (config.admin_key.empty() && config.api_key.empty())
      LOG_WARN("http: listening on {} with no admin or API key: /admin routes are open", config.host);
  }

  detail::do_accept(core);
  for (int i = 0; i < config.threads; ++i) threads_.emplace_back([core] { detail::run_io(core); });
  core_ = std::move(core);
  port_ = port;
  LOG_INFO("http: listening on {}:{} ({} io threads)", config.host, port, config.threads);
  return Status::ok();
}

void HttpServer::stop() {
  auto core = core_;
  if (!core) return;
  for (const auto& t : threads_) {
    if (t.get_id() == std::this_thread::get_id()) {
      LOG_ERROR("http: HttpServer::stop() called from an io thread; ignored (it would deadlock)");
      return;
    }
  }
  std::vector<std::weak_ptr<detail::Connection>> conns;
  {
    std::lock_guard<std::mutex> lock(core->conns_mu);
    core->stopping = true;
    conns.swap(core->conns);
  }
  net::post(core->acceptor.get_executor(), [core] {
    error_code ec;
    core->acceptor.close(ec);
    core->retry_timer.cancel();
  });
  for (const auto& w : conns)
    if (auto c = w.lock()) net::post(c->executor(), [c] { c->shutdown_for_stop(); });
  // With the listener and every socket closed, the io threads run out of work.
  for (auto& t : threads_) t.join();
  threads_.clear();
  {
    std::unique_lock<std::shared_mutex> lock(core->post_mu);
    core->posts_open = false;
  }
  // Run what was posted between the threads' exit and the line above (closed
  // connections drop it), so no queued handler keeps a connection alive.
  core->ioc.restart();
  core->ioc.poll();
  core_.reset();
  port_ = 0;
  LOG_INFO("http: stopped");
}

int HttpServer::bound_port() const { return port_; }

int HttpServer::open_connections() const {
  auto core = core_;
  return core ? core->open_conns.load() : 0;
}

}  // namespace shardlm::http
