// HttpServer: acceptor, io threads and start/stop (see server.h). The per-connection
// state machine and routing are connection.cpp, the auth decision http-auth.cpp, the
// admission limits conn-limits.cpp.
#include "shardlm/http/server.h"

#include <chrono>

#include "http/connection.h"
#include "http/http-text.h"
#include "shardlm/core/log.h"

namespace shardlm::http {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

bool is_loopback(const std::string& host) {
  error_code ec;
  auto addr = net::ip::make_address(host, ec);
  if (ec) return host == "localhost";
  return addr.is_loopback();
}

}  // namespace

std::string_view HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (detail::iequals(k, name)) return v;
  return {};
}

bool HttpRequest::has_header(std::string_view name) const {
  for (const auto& kv : headers)
    if (detail::iequals(kv.first, name)) return true;
  return false;
}

namespace detail {

namespace {

void do_accept(const std::shared_ptr<ServerCore>& core);

void on_accept(const std::shared_ptr<ServerCore>& core, error_code ec, tcp::socket socket) {
  if (core->stopping || !core->accepting || ec == net::error::operation_aborted) return;
  if (ec) {
    // EMFILE and friends: back off instead of spinning.
    LOG_WARN("http: accept failed: {}; retrying in 100 ms", ec.message());
    core->retry_timer.expires_after(std::chrono::milliseconds(100));
    core->retry_timer.async_wait([core](error_code tec) {
      if (!tec && !core->stopping && core->accepting) do_accept(core);
    });
    return;
  }
  error_code aec;
  const auto ep = socket.remote_endpoint(aec);
  std::string addr = aec ? std::string("?") : ep.address().to_string();
  const Admission admission = core->limits.admit(addr);
  auto conn = std::make_shared<Connection>(core, std::move(socket), std::move(addr), admission);
  {
    std::lock_guard<std::mutex> lock(core->conns_mu);
    if (core->stopping) return;
    std::erase_if(core->conns, [](const std::weak_ptr<Connection>& w) { return w.expired(); });
    core->conns.push_back(conn);
  }
  conn->start();
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
  if (config.max_connections_per_client < 1)
    return Status::errorf("http: max_connections_per_client must be >= 1 (got {})", config.max_connections_per_client);
  if (config.reserved_connections < 0 || config.reserved_connections >= config.max_connections)
    return Status::errorf("http: reserved_connections must be in [0, max_connections) (got {} of {})",
                          config.reserved_connections, config.max_connections);
  if (config.header_timeout_s < 0) return Status::errorf("http: header_timeout_s must be >= 0");

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

void HttpServer::stop_accepting() {
  auto core = core_;
  if (!core || !core->accepting.exchange(false)) return;
  net::post(core->acceptor.get_executor(), [core] {
    error_code ec;
    core->acceptor.close(ec);
    core->retry_timer.cancel();
  });
  LOG_INFO("http: no longer accepting connections");
}

int HttpServer::bound_port() const { return port_; }

int HttpServer::open_connections() const {
  auto core = core_;
  return core ? core->open_conns.load() : 0;
}

}  // namespace shardlm::http
