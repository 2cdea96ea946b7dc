// Prometheus metrics (ARCHITECTURE §9): a small registry of counters, gauges and
// histograms, rendered in the Prometheus text exposition format 0.0.4 (GET /metrics).
// The families shardlm exports are in shardlm-metrics.h.
//
// Threads: any thread may register, update and render. Registering (counter(), gauge(),
// histogram()) and render() take the registry's mutex; updates through a handle
// (Counter&, Gauge&, Histogram&) are lock-free atomics and never block. Handles stay
// valid as long as the Registry: nothing is ever removed. On hot paths obtain handles
// once (ShardlmMetrics holds them) instead of looking a label set up per event.
//
// Rules a registration must follow (they keep `promtool check metrics` quiet):
//   metric names match [a-zA-Z_:][a-zA-Z0-9_:]*; label names [a-zA-Z_][a-zA-Z0-9_]*, not
//   starting with "__", not "le" or "quantile", no name twice in one set; counter names
//   end in "_total", other names do not; a name keeps the type (and, for histograms, the
//   bucket bounds) of its first registration. A call that breaks a rule is a programming
//   error: it is logged (LOG_ERROR), counted in Registry::rejected(), and returns a
//   detached metric that can be updated but is never rendered. Nothing throws.
//
// Rendering: families in registration order, each with one "# HELP" and one "# TYPE"
// line, then its series in creation order (a family with no series yet is left out).
// Label values are escaped (\\, \", \n), help text too (\\, \n). Histograms give
// cumulative NAME_bucket{...,le="B"} lines up to le="+Inf", then NAME_sum and NAME_count
// (count == the +Inf bucket; sum is read separately and may lag concurrent observe()s).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace shardlm::metrics {

// Labels of one series, in the order they are rendered: {{"reason", "stop"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

// HTTP Content-Type of render()'s output.
inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Monotonic counter. inc() ignores negative and NaN amounts.
class Counter {
 public:
  void inc(double v = 1.0) {
    if (v >= 0.0) value_.fetch_add(v, std::memory_order_relaxed);
  }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1.0) { value_.fetch_add(v, std::memory_order_relaxed); }
  void dec(double v = 1.0) { value_.fetch_sub(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Fixed buckets: observe(v) counts v in the first bucket whose upper bound is >= v (the
// last, +Inf, if none). NaN observations are ignored.
class Histogram {
 public:
  // bounds: finite upper bounds; they are sorted and de-duplicated, non-finite ones dropped.
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // [bounds.size() + 1]: observations <= bound i; last = count
    double sum = 0.0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // [bounds_.size() + 1], not cumulative
  std::atomic<double> sum_{0.0};
};

enum class MetricType : uint8_t { counter, gauge, histogram };

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The series `labels` of family `name`, registering the family (with `help`) and the
  // series on first use; later calls return the same object (their help is ignored).
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, const std::vector<double>& bounds,
                       const Labels& labels = {});

  // The whole exposition (text format 0.0.4), every line ending in '\n'.
  std::string render() const;
  // Registrations refused for breaking the rules above.
  uint64_t rejected() const;

 private:
  struct Family;
  struct Series;
  void* find_or_add(std::string_view name, std::string_view help, MetricType type, const std::vector<double>* bounds,
                    const Labels& labels);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;           // registration order
  std::unordered_map<std::string, Family*> by_name_;
  std::vector<std::unique_ptr<Counter>> detached_counters_;  // refused registrations
  std::vector<std::unique_ptr<Gauge>> detached_gauges_;
  std::vector<std::unique_ptr<Histogram>> detached_histograms_;
  uint64_t rejected_ = 0;
};

// Text-format pieces, exposed for tests.
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);
std::string escape_label_value(std::string_view v);  // \ -> \\, " -> \", newline -> \n
std::string escape_help(std::string_view v);         // \ -> \\, newline -> \n
// Sample values: "NaN", "+Inf", "-Inf"; integers of magnitude < 2^53 as plain digits
// ("3", "-12", "0"); otherwise the shortest decimal that reads back exactly ("0.25", "1e-05").
std::string format_value(double v);

}  // namespace shardlm::metrics
