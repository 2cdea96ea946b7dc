// shardlm-perf: prompt-processing and generation speed of one model, in the shape of
// llama.cpp's llama-bench, with the machine's read bandwidth measured in the same run
// and the decode limit it implies (bandwidth / bytes of weights read per token).
//
//   mpirun -n K --bind-to none build/shardlm-perf --model M.gguf -p 512 -n 128 -r 3 -t 2
//
// -d/--depth N (llama-bench's -d): each test first fills the sequence's KV cache with N
// tokens of context (prefilled in chunks of 512, not timed), then times its pp or tg
// tokens at positions N.. — decode speed with a long context, e.g. per --kv-cache-dtype.
//
// Every rank measures its read bandwidth at the same time (so ranks sharing a node
// share it, as they do while decoding), right before and right after each generation
// run: on a shared machine the bandwidth left to us drifts, so each run is judged
// against the mean of its own two measurements. The limit is min over ranks of
// bandwidth_r / bytes_per_token_r; the fraction printed is the median over runs. A
// benchmark program, not a test.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include "shardlm/core/cpu-features.h"
#include "shardlm/core/log.h"
#include "shardlm/core/mmap.h"
#include "shardlm/cluster/channel.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/cluster/exit-audit.h"
#include "shardlm/cluster/rank-model.h"
#include "shardlm/cluster/step-executor.h"
#include "shardlm/protocol/wire.h"
#include "shardlm/cluster/worker-loop.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/kernels/stream-read.h"
#include "shardlm/kv/block-pool.h"
#include "shardlm/sampling/candidates.h"

using namespace shardlm;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Every rank's read bandwidth, measured at the same time (PROBE: the workers are in
// their loop); rank 0 gets one entry per rank.
std::vector<double> bandwidth_all(int threads, double mib) {
  const ProbeMsg pm{static_cast<uint64_t>(mib * 1048576.0), static_cast<uint32_t>(threads)};
  channel_send(MsgKind::PROBE, encode_probe(pm), 60);
  const double bw = stream_read_bandwidth(threads, pm.bytes);
  std::vector<double> bws(Comm::size());
  Comm::gather(&bw, sizeof bw, bws.data(), 0, 60, "gather bandwidth");
  return bws;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

struct MeanSd {
  double mean = 0, sd = 0;
};
MeanSd mean_sd(const std::vector<double>& v) {
  MeanSd r;
  for (double x : v) r.mean += x;
  r.mean /= std::max<size_t>(1, v.size());
  for (double x : v) r.sd += (x - r.mean) * (x - r.mean);
  r.sd = v.size() > 1 ? std::sqrt(r.sd / (v.size() - 1)) : 0;
  return r;
}

// One sequence through the step protocol: `depth` tokens of context first (untimed,
// in chunks of 512), then `n_tokens` all at once (pp) or one per step (tg). Returns the
// seconds of the timed steps (context and freeing not included).
double run_seq(StepExecutor& x, BlockPool& pool, int depth, int n_tokens, bool one_per_step, uint64_t seq_id, double tmo) {
  RankModel& m = x.model();
  const int bs = m.config().block_size;
  auto blocks = pool.allocate(blocks_for(depth + n_tokens, bs));
  if (!blocks) Comm::fatal("error", "KV pool too small for the test");
  const int32_t nv = m.hparams().n_vocab;
  auto tok = [&](int i) { return static_cast<int32_t>((static_cast<int64_t>(i) * 7919 + 13) % nv); };
  StepRows out;
  SamplingParams greedy;
  greedy.temperature = 0;
  uint64_t step = 0;
  // Positions [at, at + count) in one step; the first step admits the sequence.
  auto compute = [&](int at, int count) {
    StepMsg s;
    s.step_id = step++;
    std::vector<int32_t> toks;
    for (int i = at; i < at + count; ++i) toks.push_back(tok(i));
    if (at == 0) {
      NewSeq ns;
      ns.seq_id = seq_id;
      ns.n_prompt = static_cast<uint32_t>(depth + n_tokens);
      ns.tokens = toks;
      ns.block_table = *blocks;
      ns.sampling = greedy;
      s.new_seqs.push_back(ns);
    } else {
      s.running.push_back({seq_id, static_cast<uint32_t>(at), toks, {}});
    }
    s.rows.push_back({seq_id, static_cast<uint32_t>(at + count - 1)});
    if (!run_step_rank0(x, s, tmo, out)) Comm::fatal("error", "step failed");
  };
  for (int at = 0; at < depth; at += 512) compute(at, std::min(512, depth - at));
  const auto t0 = Clock::now();
  if (one_per_step)
    for (int i = depth; i < depth + n_tokens; ++i) compute(i, 1);
  else
    compute(depth, n_tokens);
  const double dt = seconds(Clock::now() - t0);
  StepMsg fin;
  fin.finished.push_back(seq_id);
  (void)run_step_rank0(x, fin, tmo, out);
  pool.release(*blocks);
  return dt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shardlm-perf: prompt processing and generation speed, with the bandwidth limit"};
  RuntimeConfig rt;
  int p = 512, n = 128, reps = 3, depth = 0;
  double bw_mib = 1024;
  app.add_option("-m,--model", rt.model_path, "model file")->required();
  app.add_option("-p,--n-prompt", p, "prompt tokens (pp test; 0 = skip)")->check(CLI::NonNegativeNumber);
  app.add_option("-n,--n-gen", n, "generated tokens (tg test; 0 = skip)")->check(CLI::NonNegativeNumber);
  app.add_option("-r,--repetitions", reps, "repetitions of each test")->check(CLI::PositiveNumber);
  app.add_option("-d,--depth", depth, "tokens of context in the KV cache before each test (untimed)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--kv-cache-dtype", rt.kv_cache_dtype, "KV cache element type: f32, f16, bf16, fp8_e4m3, int8")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "fp8_e4m3", "int8"}));
  app.add_option("-t,--threads", rt.threads, "threads per rank (default: cores / ranks on the node)");
  app.add_flag("!--no-pack-weights", rt.pack_weights, "keep Q8_0/Q4_0/Q4_K/Q6_K rows as stored (no 32-row panels)");
  app.add_option("--bw-mib", bw_mib, "MiB read per bandwidth pass, per rank")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  if (!Comm::init(&argc, &argv)) return 1;
  log_init(Comm::rank(), "warn");
  kernels_init();
  // SHARDLM_CPU=avx2|avx512|avx512vnni|scalar: measure a lower path on this machine (as
  // `shardlm` does), e.g. what an AVX2-only CPU runs.
  if (Status st = apply_cpu_env(); !st) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 2;
  }
  audit_start(Comm::rank());
  const int threads = rt.threads > 0 ? rt.threads
                                     : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / Comm::local_size());
  rt.threads = threads;
  rt.n_ctx = depth + std::max(p, n) + 16;
  rt.max_seqs = 1;

  if (Comm::rank() != 0) {
    WorkerLoopConfig wc;
    wc.idle_timeout_s = 3600;
    const int rc = worker_loop(wc);
    Comm::finalize();
    return rc;
  }
  channel_send(MsgKind::LOAD, encode_load(LoadMsg{rt.model_path, rt.to_json()}), rt.eval_timeout_s);
  auto loaded = load_rank_model(rt);
  if (!loaded) {
    std::fprintf(stderr, "load failed: %s\n", loaded.message().c_str());
    channel_send(MsgKind::SHUTDOWN, {}, 60);
    (void)shutdown_gather_rss(60);
    Comm::finalize();
    return 1;
  }
  RankModel& m = *loaded.value();
  StepExecutor exec(m);
  // Bytes each rank reads per generated token (all its weights but the embedding table,
  // of which one row is read) — from the stats gather.
  channel_send(MsgKind::PING, {}, 60);
  std::vector<RankStats> stats = gather_rank_stats(&m, 60);
  BlockPool pool(m.kv_blocks());
  const double tmo = 600;
  // Limit of this rank set for a bandwidth measurement: min over ranks of bw_r / bytes_r.
  auto limit_of = [&](const std::vector<double>& bws) {
    double l = 1e300;
    for (int r = 0; r < Comm::size(); ++r)
      if (stats[r].bytes_per_token > 0) l = std::min(l, bws[r] / stats[r].bytes_per_token);
    return l;
  };
  // The bandwidth left to us drifts on a shared machine: each generation run is
  // bracketed by two measurements, and its fraction uses their mean.
  std::vector<double> pp, tg, fractions, limits, bw_sums;
  for (int r = 0; r < reps; ++r) {
    if (p > 0) pp.push_back(p / run_seq(exec, pool, depth, p, false, 1000 + r, tmo));
    if (n > 0) {
      const std::vector<double> before = bandwidth_all(threads, bw_mib);
      tg.push_back(n / run_seq(exec, pool, depth, n, true, 2000 + r, tmo));
      const std::vector<double> after = bandwidth_all(threads, bw_mib);
      std::vector<double> mean(before.size());
      for (size_t i = 0; i < mean.size(); ++i) mean[i] = (before[i] + after[i]) / 2;
      limits.push_back(limit_of(mean));
      fractions.push_back(tg.back() / limits.back());
      for (const auto* v : {&before, &after}) bw_sums.push_back(std::accumulate(v->begin(), v->end(), 0.0));
    }
    std::fprintf(stderr, "shardlm-perf: repetition %d/%d done\n", r + 1, reps);
  }
  if (n == 0) {  // no generation runs: one measurement for the printed limit
    const std::vector<double> bws = bandwidth_all(threads, bw_mib);
    limits.push_back(limit_of(bws));
    bw_sums.push_back(std::accumulate(bws.begin(), bws.end(), 0.0));
  }
  channel_send(MsgKind::SHUTDOWN, {}, 60);
  (void)shutdown_gather_rss(60);
  double bytes_total = 0;
  for (int r = 0; r < Comm::size(); ++r) bytes_total += stats[r].bytes_per_token;
  const std::string name = rt.model_path.substr(rt.model_path.find_last_of('/') + 1);
  const std::string setup = Comm::size() > 1 ? fmt::format("{} ranks x {} t", Comm::size(), threads) : fmt::format("{} t", threads);
  std::printf("| model | size | ranks x threads | kv | test | t/s | median t/s | fraction of limit |\n");
  std::printf("| --- | ---: | --- | --- | --- | ---: | ---: | ---: |\n");
  const std::string at = depth > 0 ? fmt::format(" @ d{}", depth) : "";
  auto row = [&](const char* test, int count, const std::vector<double>& v, bool decode) {
    if (v.empty()) return;
    MeanSd s = mean_sd(v);
    std::printf("| %s | %.2f GiB | %s | %s | %s%d%s | %.2f ± %.2f | %.2f | %s |\n", name.c_str(), bytes_total / 1073741824.0,
                setup.c_str(), rt.kv_cache_dtype.c_str(), test, count, at.c_str(), s.mean, s.sd, median(v),
                decode ? fmt::format("{:.2f}", median(fractions)).c_str() : "-");
  };
  row("pp", p, pp, false);
  row("tg", n, tg, true);
  const auto [lo, hi] = std::minmax_element(bw_sums.begin(), bw_sums.end());
  std::printf("\nread bandwidth %.1f GB/s (median of %zu measurements around the generation runs, %.1f-%.1f; sum over "
              "ranks, measured concurrently); weights read per token %.3f GB; decode limit %.2f tok/s (median); "
              "fraction = median over runs of tg / the limit of its own two measurements; cpu paths: %s\n",
              median(bw_sums) / 1e9, bw_sums.size(), *lo / 1e9, *hi / 1e9, bytes_total / 1e9, median(limits),
              describe(cpu_features()).c_str());
  Comm::finalize();
  return 0;
}
