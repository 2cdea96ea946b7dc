#include "shardlm/http/response-sink.h"

#include <boost/beast/http/status.hpp>
#include <fmt/format.h>

#include "shardlm/core/log.h"

namespace shardlm::http {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool has_crlf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

std::string reason_phrase(int status) {
  namespace bh = boost::beast::http;
  auto r = bh::obsolete_reason(bh::int_to_status(static_cast<unsigned>(status)));
  if (r.empty() || r.front() == '<') return "Unknown";  // beast says "<unknown-status>"
  return std::string(r.data(), r.size());
}

}  // namespace

ResponseSink::ResponseSink(std::shared_ptr<ResponseSinkTarget> target, uint64_t seq, int http_version,
                           bool keep_alive)
    : target_(std::move(target)), seq_(seq), http_version_(http_version), keep_alive_(keep_alive) {}

ResponseSink::~ResponseSink() {
  try {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ || phase_ == Phase::done) return;
    if (phase_ == Phase::idle) {
      LOG_ERROR("http: a handler dropped its response sink without answering; sending 500");
      ApiError e = internal_error("The server finished the request without a response.");
      std::string body = e.to_json();
      std::string bytes = format_head(e.status, "application/json", {}, false, body.size()) + body;
      target_->enqueue(seq_, std::move(bytes), true, !keep_alive_);
    } else {
      LOG_WARN("http: a streamed response was dropped before end(); closing the connection");
      target_->abort(seq_);
    }
  } catch (...) {
    // A destructor must not throw; the connection times out or closes on its own.
  }
}

std::string ResponseSink::format_head(int status, std::string_view content_type, const HttpHeaders& headers,
                                      bool chunked, size_t content_length) const {
  std::string h = fmt::format("HTTP/1.1 {} {}\r\nServer: shardlm\r\n", status, reason_phrase(status));
  if (!content_type.empty() && !has_crlf(content_type)) {
    h += "Content-Type: ";
    h += content_type;
    h += "\r\n";
  }
  if (!chunked) {
    h += fmt::format("Content-Length: {}\r\n", content_length);
  } else if (http_version_ >= 11) {
    h += "Transfer-Encoding: chunked\r\n";
  }
  for (const auto& [name, value] : headers) {
    if (name.empty() || has_crlf(name) || has_crlf(value) || iequals(name, "content-length") ||
        iequals(name, "transfer-encoding") || iequals(name, "connection") ||
        (iequals(name, "content-type") && !content_type.empty())) {
      LOG_WARN("http: dropping response header field '{}'", name);
      continue;
    }
    h += name;
    h += ": ";
    h += value;
    h += "\r\n";
  }
  bool close = !keep_alive_ || (chunked && http_version_ < 11);
  if (close) {
    h += "Connection: close\r\n";
  } else if (http_version_ < 11) {
    h += "Connection: keep-alive\r\n";
  }
  h += "\r\n";
  return h;
}

bool ResponseSink::send(int status, std::string_view content_type, std::string body, const HttpHeaders& headers) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  if (phase_ != Phase::idle) {
    LOG_WARN("http: ResponseSink::send after the response was already started; ignored");
    return false;
  }
  if (status < 100 || status > 599) {
    LOG_ERROR("http: invalid HTTP status {} from a handler; sending 500", status);
    status = 500;
  }
  std::string bytes = format_head(status, content_type, headers, false, body.size());
  bytes += body;
  phase_ = Phase::done;
  target_->enqueue(seq_, std::move(bytes), true, !keep_alive_);
  return true;
}

bool ResponseSink::send_error(const ApiError& error) {
  HttpHeaders extra;
  if (error.retry_after_s > 0) extra.emplace_back("Retry-After", std::to_string(error.retry_after_s));
  if (error.status == 401) extra.emplace_back("WWW-Authenticate", "Bearer");
  return send(error.status, "application/json", error.to_json(), extra);
}

bool ResponseSink::start_stream(int status, std::string_view content_type, const HttpHeaders& headers) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  if (phase_ != Phase::idle) {
    LOG_WARN("http: ResponseSink::start_stream after the response was already started; ignored");
    return false;
  }
  if (status < 100 || status > 599) {
    LOG_ERROR("http: invalid HTTP status {} from a handler; streaming with 500", status);
    status = 500;
  }
  phase_ = Phase::streaming;
  target_->enqueue(seq_, format_head(status, content_type, headers, true, 0), false, false);
  return true;
}

bool ResponseSink::write(std::string chunk) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  if (phase_ != Phase::streaming) {
    LOG_WARN("http: ResponseSink::write outside a stream; ignored");
    return false;
  }
  if (chunk.empty()) return true;
  if (http_version_ >= 11) {
    std::string framed = fmt::format("{:x}\r\n", chunk.size());
    framed.reserve(framed.size() + chunk.size() + 2);
    framed += chunk;
    framed += "\r\n";
    chunk = std::move(framed);
  }
  target_->enqueue(seq_, std::move(chunk), false, false);
  return true;
}

bool ResponseSink::end() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  if (phase_ != Phase::streaming) {
    LOG_WARN("http: ResponseSink::end outside a stream; ignored");
    return false;
  }
  phase_ = Phase::done;
  bool v11 = http_version_ >= 11;
  target_->enqueue(seq_, v11 ? std::string("0\r\n\r\n") : std::string(), true, !keep_alive_ || !v11);
  return true;
}

bool ResponseSink::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

bool ResponseSink::answered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return phase_ != Phase::idle;
}

bool ResponseSink::finished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return phase_ == Phase::done;
}

void ResponseSink::on_close(std::function<void()> cb) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!closed_ || phase_ == Phase::done) {
      on_close_ = std::move(cb);
      return;
    }
  }
  try {
    if (cb) cb();  // the client already left: at once
  } catch (...) {
    LOG_ERROR("http: an on_close callback threw; ignored");
  }
}

void ResponseSink::notify_client_gone() {
  std::function<void()> cb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    if (phase_ != Phase::done) cb = std::move(on_close_);
    on_close_ = nullptr;
  }
  try {
    if (cb) cb();
  } catch (...) {
    LOG_ERROR("http: an on_close callback threw; ignored");
  }
}

void ResponseSink::post(std::function<void()> fn) { target_->run(std::move(fn)); }

}  // namespace shardlm::http
