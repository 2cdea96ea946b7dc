#include "shardlm/metrics/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "shardlm/core/log.h"

namespace shardlm::metrics {
namespace {

bool name_char(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

const char* type_name(MetricType t) {
  switch (t) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

// `a="x",b="y"` (no braces), or "" for no labels.
std::string label_text(const Labels& labels) {
  std::string s;
  for (const auto& [k, v] : labels) {
    if (!s.empty()) s += ',';
    s += k;
    s += "=\"";
    s += escape_label_value(v);
    s += '"';
  }
  return s;
}

// Empty, or why the registration breaks the rules of metrics.h.
std::string check_registration(std::string_view name, MetricType type, const Labels& labels) {
  if (!valid_metric_name(name)) return "invalid metric name";
  const bool total = ends_with(name, "_total");
  if (type == MetricType::counter && !total) return "counter names must end in _total";
  if (type != MetricType::counter && total) return "only counter names may end in _total";
  std::set<std::string_view> seen;
  for (const auto& [k, v] : labels) {
    if (!valid_label_name(k)) return "invalid label name '" + k + "'";
    if (k == "le" || k == "quantile") return "label name '" + k + "' is reserved";
    if (!seen.insert(k).second) return "label '" + k + "' given twice";
  }
  return {};
}

}  // namespace

// ---- text-format pieces ------------------------------------------------------------

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, true)) return false;
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, false)) return false;
  return true;
}

std::string escape_label_value(std::string_view v) {
  std::string s;
  s.reserve(v.size());
  for (char c : v) {
    if (c == '\\') s += "\\\\";
    else if (c == '"') s += "\\\"";
    else if (c == '\n') s += "\\n";
    else s += c;
  }
  return s;
}

std::string escape_help(std::string_view v) {
  std::string s;
  s.reserve(v.size());
  for (char c : v) {
    if (c == '\\') s += "\\\\";
    else if (c == '\n') s += "\\n";
    else s += c;
  }
  return s;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::trunc(v) && std::fabs(v) < 0x1p53) return std::to_string(static_cast<int64_t>(v));
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  return std::string(buf, r.ptr);
}

// ---- Histogram -----------------------------------------------------------------------

Histogram::Histogram(std::vector<double> bounds) {
  std::erase_if(bounds, [](double b) { return !std::isfinite(b); });
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  bounds_ = std::move(bounds);
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = acc;
  }
  s.count = acc;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---- Registry ------------------------------------------------------------------------

struct Registry::Series {
  std::string labels;  // rendered label pairs without braces, also the lookup key
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
  void* handle() const {
    if (counter) return counter.get();
    if (gauge) return gauge.get();
    return histogram.get();
  }
};

struct Registry::Family {
  std::string name;
  std::string help;
  MetricType type = MetricType::counter;
  std::vector<double> bounds;  // histograms: as normalized by Histogram
  std::vector<std::unique_ptr<Series>> series;  // creation order
  std::unordered_map<std::string, Series*> by_labels;
};

Registry::Registry() = default;
Registry::~Registry() = default;

void* Registry::find_or_add(std::string_view name, std::string_view help, MetricType type,
                            const std::vector<double>* bounds, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string why = check_registration(name, type, labels);
  Family* fam = nullptr;
  std::vector<double> norm;
  if (type == MetricType::histogram) norm = Histogram(*bounds).bounds();
  if (why.empty()) {
    auto it = by_name_.find(std::string(name));
    if (it != by_name_.end()) {
      fam = it->second;
      if (fam->type != type)
        why = fmt::format("already registered as a {}", type_name(fam->type));
      else if (type == MetricType::histogram && fam->bounds != norm)
        why = "already registered with other bucket bounds";
    }
  }
  if (!why.empty()) {
    ++rejected_;
    LOG_ERROR("metrics: refusing {} '{}' ({}); its updates will not be exported", type_name(type), name, why);
    switch (type) {
      case MetricType::counter: return detached_counters_.emplace_back(std::make_unique<Counter>()).get();
      case MetricType::gauge: return detached_gauges_.emplace_back(std::make_unique<Gauge>()).get();
      case MetricType::histogram:
        return detached_histograms_.emplace_back(std::make_unique<Histogram>(norm)).get();
    }
  }
  if (!fam) {
    auto f = std::make_unique<Family>();
    f->name = std::string(name);
    f->help = std::string(help);
    f->type = type;
    f->bounds = norm;
    fam = f.get();
    by_name_.emplace(f->name, fam);
    families_.push_back(std::move(f));
  }
  std::string key = label_text(labels);
  if (auto it = fam->by_labels.find(key); it != fam->by_labels.end()) return it->second->handle();
  auto s = std::make_unique<Series>();
  s->labels = key;
  switch (type) {
    case MetricType::counter: s->counter = std::make_unique<Counter>(); break;
    case MetricType::gauge: s->gauge = std::make_unique<Gauge>(); break;
    case MetricType::histogram: s->histogram = std::make_unique<Histogram>(norm); break;
  }
  Series* sp = s.get();
  fam->by_labels.emplace(std::move(key), sp);
  fam->series.push_back(std::move(s));
  return sp->handle();
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  return *static_cast<Counter*>(find_or_add(name, help, MetricType::counter, nullptr, labels));
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  return *static_cast<Gauge*>(find_or_add(name, help, MetricType::gauge, nullptr, labels));
}

Histogram& Registry::histogram(std::string_view name, std::string_view help, const std::vector<double>& bounds,
                               const Labels& labels) {
  return *static_cast<Histogram*>(find_or_add(name, help, MetricType::histogram, &bounds, labels));
}

uint64_t Registry::rejected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rejected_;
}

std::string Registry::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  // name{labels} value, or name{labels,extra} value; no braces when both are empty.
  auto line = [&out](std::string_view name, const std::string& labels, std::string_view extra,
                     std::string_view value) {
    out += name;
    if (!labels.empty() || !extra.empty()) {
      out += '{';
      out += labels;
      if (!labels.empty() && !extra.empty()) out += ',';
      out += extra;
      out += '}';
    }
    out += ' ';
    out += value;
    out += '\n';
  };
  for (const auto& fam : families_) {
    if (fam->series.empty()) continue;
    out += "# HELP " + fam->name + " " + escape_help(fam->help) + "\n";
    out += "# TYPE " + fam->name + " " + type_name(fam->type) + "\n";
    for (const auto& s : fam->series) {
      if (s->counter) {
        line(fam->name, s->labels, {}, format_value(s->counter->value()));
      } else if (s->gauge) {
        line(fam->name, s->labels, {}, format_value(s->gauge->value()));
      } else {
        const Histogram::Snapshot snap = s->histogram->snapshot();
        const std::string bucket = fam->name + "_bucket";
        for (size_t i = 0; i < fam->bounds.size(); ++i)
          line(bucket, s->labels, "le=\"" + format_value(fam->bounds[i]) + "\"", std::to_string(snap.cumulative[i]));
        line(bucket, s->labels, "le=\"+Inf\"", std::to_string(snap.count));
        line(fam->name + "_sum", s->labels, {}, format_value(snap.sum));
        line(fam->name + "_count", s->labels, {}, std::to_string(snap.count));
      }
    }
  }
  return out;
}

}  // namespace shardlm::metrics

// ---- ShardlmMetrics --------------------------------------------------------------------

