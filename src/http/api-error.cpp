#include "shardlm/http/api-error.h"

#include <nlohmann/json.hpp>

namespace shardlm::http {

namespace {

ApiError make(int status, std::string message, const char* type, std::string param, std::string code) {
  ApiError e;
  e.status = status;
  e.message = std::move(message);
  e.type = type;
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

}  // namespace

std::string ApiError::to_json() const {
  nlohmann::json err = {
      {"message", message},
      {"type", type},
      {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
      {"code", code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code)},
  };
  // replace: invalid UTF-8 in a message (say, an echoed request byte) must not throw.
  return nlohmann::json{{"error", err}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ApiError bad_request(std::string message, std::string param, std::string code) {
  return make(400, std::move(message), "invalid_request_error", std::move(param), std::move(code));
}

ApiError unauthorized(std::string message) {
  return make(401, std::move(message), "authentication_error", "", "invalid_api_key");
}

ApiError not_found(std::string message, std::string code) {
  return make(404, std::move(message), "not_found_error", "", std::move(code));
}

ApiError method_not_allowed(const std::string& method, const std::string& path) {
  return make(405, "Method " + method + " is not allowed on " + path + ".", "invalid_request_error", "",
              "method_not_allowed");
}

ApiError payload_too_large(std::size_t limit_bytes) {
  return make(413, "Request body too large: the limit is " + std::to_string(limit_bytes) + " bytes.",
              "invalid_request_error", "", "request_too_large");
}

ApiError header_too_large() {
  return make(431, "Request header fields too large.", "invalid_request_error", "", "request_header_too_large");
}

ApiError too_many_requests(int retry_after_s, std::string message) {
  ApiError e = make(429, std::move(message), "rate_limit_error", "", "rate_limit_exceeded");
  e.retry_after_s = retry_after_s;
  return e;
}

ApiError internal_error(std::string message) {
  return make(500, std::move(message), "server_error", "", "");
}

ApiError service_unavailable(std::string message, int retry_after_s) {
  ApiError e = make(503, std::move(message), "service_unavailable_error", "", "service_unavailable");
  e.retry_after_s = retry_after_s;
  return e;
}

ApiError overloaded(std::string message, int retry_after_s) {
  ApiError e = make(503, std::move(message), "service_unavailable_error", "", "server_is_overloaded");
  e.retry_after_s = retry_after_s;
  return e;
}

}  // namespace shardlm::http
