// Recoverable errors as values (house rule 7): Status and Result<T>.
#pragma once
#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace shardlm {

// Status: ok, or an error message meant for a person ("FILE: what is wrong").
class Status {
 public:
  Status() = default;
  static Status ok() { return {}; }
  static Status error(std::string msg) { Status s; s.msg_ = std::move(msg); return s; }
  template <typename... A>
  static Status errorf(fmt::format_string<A...> f, A&&... a) {
    return error(fmt::format(f, std::forward<A>(a)...));
  }
  bool is_ok() const { return !msg_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const std::string& message() const { static const std::string empty; return msg_ ? *msg_ : empty; }
  // Prefix the message with context ("loading X: ...").
  Status with_context(const std::string& ctx) const {
    return is_ok() ? *this : error(ctx + ": " + *msg_);
  }

 private:
  std::optional<std::string> msg_;
};

// Result<T>: a value or an error Status.
template <typename T>
class Result {
 public:
  Result(T v) : v_(std::move(v)) {}                    // NOLINT(implicit)
  Result(Status s) : v_(std::move(s)) { assert(!std::get<Status>(v_).is_ok()); }  // NOLINT
  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T& operator*() & { return std::get<T>(v_); }
  Status status() const { return is_ok() ? Status::ok() : std::get<Status>(v_); }
  const std::string& message() const { static const std::string e; return is_ok() ? e : std::get<Status>(v_).message(); }

 private:
  std::variant<T, Status> v_;
};

#define SHARDLM_TRY(expr)                      \
  do {                                         \
    ::shardlm::Status _st = (expr);            \
    if (!_st.is_ok()) return _st;              \
  } while (0)

}  // namespace shardlm
