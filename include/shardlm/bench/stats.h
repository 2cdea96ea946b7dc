// Descriptive statistics for benchmark samples.
#pragma once
#include <cstddef>
#include <vector>

#include <nlohmann/json.hpp>

namespace shardlm::bench {

// p-th percentile (p in [0, 100]) with linear interpolation between the closest ranks:
// rank = p/100 * (n-1) over the sorted values (numpy's default). NaN when empty.
double percentile(std::vector<double> v, double p);

struct Summary {
  size_t n = 0;
  double mean = 0, sd = 0;          // sd: sample standard deviation (n-1); 0 when n < 2
  double min = 0, max = 0;
  double p50 = 0, p95 = 0, p99 = 0;
};
Summary summarize(const std::vector<double>& v);
// {"n","mean","sd","min","max","p50","p95","p99"}; an empty sample gives {"n":0}.
nlohmann::json summary_to_json(const Summary& s);

}  // namespace shardlm::bench
