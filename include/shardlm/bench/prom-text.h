// Prometheus text exposition format (0.0.4): parsing /metrics into a snapshot and the
// difference of two snapshots.
#pragma once
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "shardlm/core/status.h"

namespace shardlm::bench {

struct PromSnapshot {
  // Series key → value. The key is the name, then the labels sorted by name:
  // name{a="x",b="y"} (values escaped as in the format); no labels: just the name.
  std::map<std::string, double> values;
  std::map<std::string, std::string> types;  // metric family → "counter", "gauge", ...
};

// Parses the text; a malformed line is an error naming its line number.
Result<PromSnapshot> parse_prom_text(std::string_view text);
std::string prom_series_key(const std::string& name, const std::map<std::string, std::string>& labels);
// Type of a series name, looking through the _bucket/_sum/_count/_total suffixes to its
// family; "untyped" when no TYPE line names it.
std::string prom_type_of(const PromSnapshot& s, const std::string& series_name);
// {"counters": {key: after - before}, "gauges": {key: {"before","after"}}}: counters
// (and histogram/summary series) as differences, a missing "before" counting as 0.
nlohmann::json prom_delta(const PromSnapshot& before, const PromSnapshot& after);

}  // namespace shardlm::bench
