#include "shardlm/bench/request-runner.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "shardlm/bench/server-api.h"

namespace shardlm::bench {

std::vector<RequestRecord> run_requests(const std::vector<RequestSpec>& specs, const RunnerConfig& cfg,
                                        Clock::time_point run_start) {
  std::vector<RequestRecord> out(specs.size());
  std::atomic<size_t> next{0};
  const int workers = std::max(1, std::min<int>(cfg.concurrency, static_cast<int>(std::max<size_t>(specs.size(), 1))));
  auto work = [&] {
    HttpClient client(cfg.client);
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= specs.size()) break;
      const RequestSpec& s = specs[i];
      if (cfg.open_loop) {
        const auto due = run_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s.at_s));
        std::this_thread::sleep_until(due);
      }
      RequestRecord r = run_generation(client, s.prompt, s.params, cfg.api_key, run_start);
      r.index = i;
      r.case_name = s.case_name;
      r.scheduled_s = cfg.open_loop ? s.at_s : r.send_s;
      out[i] = std::move(r);
      if (cfg.progress) cfg.progress->add(1, !out[i].ok);
    }
  };
  std::vector<std::thread> ts;
  for (int w = 0; w < workers; ++w) ts.emplace_back(work);
  for (auto& t : ts) t.join();
  return out;
}

}  // namespace shardlm::bench
