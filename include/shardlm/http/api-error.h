// ApiError: an HTTP error in the OpenAI shape, {"error": {"message", "type", "param", "code"}}.
//
// Every error the HTTP layer or a route sends goes through this type, so clients see one
// shape with the right status. OpenAI's client libraries pick their exception class from
// the HTTP status; "type" and "code" are for people and logs. Types used (OpenAI names):
//
//   status  type                        code (null when empty)    helper
//   400     invalid_request_error       caller's choice           bad_request(msg, param, code)
//   401     authentication_error        invalid_api_key           unauthorized(msg)
//   404     not_found_error             caller's choice           not_found(msg, code)
//   405     invalid_request_error       method_not_allowed        method_not_allowed(method, path)
//   413     invalid_request_error       request_too_large         payload_too_large(limit_bytes)
//   431     invalid_request_error       request_header_too_large  header_too_large()
//   429     rate_limit_error            rate_limit_exceeded       too_many_requests(retry_after_s, msg)
//   500     server_error                null                      internal_error(msg)
//   503     service_unavailable_error   service_unavailable       service_unavailable(msg, retry_after_s)
//   503     service_unavailable_error   server_is_overloaded      overloaded(msg, retry_after_s)
//
// retry_after_s > 0 makes ResponseSink::send_error add a "Retry-After" header; a 401 gets
// "WWW-Authenticate: Bearer". Plain value type; no thread concerns.
#pragma once
#include <cstddef>
#include <string>

namespace shardlm::http {

struct ApiError {
  int status = 500;         // HTTP status
  std::string message;      // for a person
  std::string type;         // OpenAI error type (table above)
  std::string param;        // offending request field ("temperature"); "" → JSON null
  std::string code;         // machine-readable detail; "" → JSON null
  int retry_after_s = 0;    // > 0: "Retry-After" header (429, 503)

  // {"error":{"message":...,"type":...,"param":...|null,"code":...|null}} (never throws).
  std::string to_json() const;
};

ApiError bad_request(std::string message, std::string param = "", std::string code = "");
ApiError unauthorized(std::string message = "Incorrect API key provided.");
ApiError not_found(std::string message, std::string code = "");
ApiError method_not_allowed(const std::string& method, const std::string& path);
ApiError payload_too_large(std::size_t limit_bytes);
ApiError header_too_large();
ApiError too_many_requests(int retry_after_s, std::string message = "Too many requests; retry later.");
ApiError internal_error(std::string message);
ApiError service_unavailable(std::string message, int retry_after_s = 0);
ApiError overloaded(std::string message, int retry_after_s = 1);

}  // namespace shardlm::http
