// shardlm-perf: prompt-processing and generation speed of one model, in the shape of
// llama.cpp's llama-bench, with the machine's read bandwidth measured in the same run
// and the decode limit it implies (bandwidth / bytes of weights read per token).
//
//   mpirun -n K --bind-to none build/shardlm-perf --model M.gguf -p 512 -n 128 -r 3 -t 2
//
// Every rank measures its read bandwidth at the same time (so ranks sharing a node
// share it, as they do while decoding), once before the model is loaded and once after
// the runs: on a shared machine the bandwidth left to us drifts, and the mean of the
// two brackets the runs. The limit is min over ranks of bandwidth_r / bytes_per_token_r
// (bandwidth_r the mean); both measurements are printed. A benchmark program, not a test.
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
#include "shardlm/dist/channel.h"
#include "shardlm/dist/comm.h"
#include "shardlm/dist/exit-audit.h"
#include "shardlm/dist/rank-model.h"
#include "shardlm/dist/worker-loop.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/kernels/stream-read.h"
#include "shardlm/kv/block-pool.h"
#include "shardlm/sampling/candidates.h"

using namespace shardlm;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Read bandwidth (bytes/s) of `threads` threads streaming disjoint parts of one buffer
// (stream_read: the widest plain loads of this CPU):
// the median of 5 passes after a warm-up pass.
double read_bandwidth(int threads, size_t bytes) {
  Buffer buf(bytes);
  std::memset(buf.data(), 0x5a, bytes);  // touch every page (the values do not matter)
  std::vector<double> passes;
  volatile uint64_t sink = 0;
  for (int pass = 0; pass < 6; ++pass) {
    std::vector<std::thread> ts;
    std::vector<uint64_t> part(threads);
    const auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        const size_t a = bytes * t / threads / 64 * 64, b = t + 1 == threads ? bytes : bytes * (t + 1) / threads / 64 * 64;
        part[t] = stream_read(buf.data() + a, b - a);
      });
    for (auto& t : ts) t.join();
    const double dt = seconds(Clock::now() - t0);
    for (uint64_t v : part) sink = sink ^ v;
    if (pass > 0) passes.push_back(static_cast<double>(bytes) / dt);
  }
  std::sort(passes.begin(), passes.end());
  return passes[passes.size() / 2];
}

// Every rank's read bandwidth, measured at the same time after a barrier (rank 0 gets
// the vector; the others an empty one).
std::vector<double> bandwidth_all(int threads, double mib) {
  (void)Comm::allreduce_min(1, 60, "bandwidth start");
  const double bw = read_bandwidth(threads, static_cast<size_t>(mib * 1048576.0));
  std::vector<double> bws(Comm::rank() == 0 ? Comm::size() : 0);
  Comm::gather(&bw, sizeof bw, bws.data(), 0, 60, "gather bandwidth");
  return bws;
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

// One sequence of `tokens` through the step protocol: all at once (pp) or one per
// step (tg). Returns the seconds of the computing steps (freeing not included).
double run_seq(RankModel& m, BlockPool& pool, int n_tokens, bool one_per_step, uint64_t seq_id, double tmo) {
  const int bs = m.config().block_size;
  auto blocks = pool.allocate(blocks_for(n_tokens, bs));
  if (!blocks) Comm::fatal("error", "KV pool too small for the test");
  const int32_t nv = m.hparams().n_vocab;
  auto tok = [&](int i) { return static_cast<int32_t>((static_cast<int64_t>(i) * 7919 + 13) % nv); };
  std::vector<std::vector<Candidates>> cands;
  std::vector<uint64_t> ids;
  SamplingParams greedy;
  greedy.temperature = 0;
  const auto t0 = Clock::now();
  const int first = one_per_step ? 1 : n_tokens;
  StepMsg s;
  NewSeq ns;
  ns.seq_id = seq_id;
  ns.n_prompt = static_cast<uint32_t>(n_tokens);
  for (int i = 0; i < first; ++i) ns.tokens.push_back(tok(i));
  ns.block_table = *blocks;
  ns.sample = true;
  ns.sampling = greedy;
  s.new_seqs.push_back(ns);
  if (!run_step_rank0(m, s, tmo, cands, ids)) Comm::fatal("error", "step failed");
  for (int i = first; i < n_tokens; ++i) {
    StepMsg r;
    r.step_id = static_cast<uint64_t>(i);
    r.running.push_back({seq_id, {tok(i)}, {}, true});
    if (!run_step_rank0(m, r, tmo, cands, ids)) Comm::fatal("error", "step failed");
  }
  const double dt = seconds(Clock::now() - t0);
  StepMsg fin;
  fin.finished.push_back(seq_id);
  (void)run_step_rank0(m, fin, tmo, cands, ids);
  pool.release(*blocks);
  return dt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shardlm-perf: prompt processing and generation speed, with the bandwidth limit"};
  RuntimeConfig rt;
  int p = 512, n = 128, reps = 3;
  double bw_mib = 1024;
  app.add_option("-m,--model", rt.model_path, "model file")->required();
  app.add_option("-p,--n-prompt", p, "prompt tokens (pp test; 0 = skip)")->check(CLI::NonNegativeNumber);
  app.add_option("-n,--n-gen", n, "generated tokens (tg test; 0 = skip)")->check(CLI::NonNegativeNumber);
  app.add_option("-r,--repetitions", reps, "repetitions of each test")->check(CLI::PositiveNumber);
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
  rt.n_ctx = std::max(p, n) + 16;
  rt.max_seqs = 1;

  const std::vector<double> bw_before = bandwidth_all(threads, bw_mib);

  if (Comm::rank() != 0) {
    WorkerLoopConfig wc;
    wc.idle_timeout_s = 3600;
    const int rc = worker_loop(wc);
    (void)bandwidth_all(threads, bw_mib);  // with rank 0, after its SHUTDOWN
    Comm::finalize();
    return rc;
  }
  channel_send(MsgKind::LOAD, encode_load(LoadMsg{rt.model_path, rt.to_json()}), rt.eval_timeout_s);
  auto loaded = load_rank_model(rt);
  if (!loaded) {
    std::fprintf(stderr, "load failed: %s\n", loaded.message().c_str());
    channel_send(MsgKind::SHUTDOWN, {}, 60);
    (void)shutdown_gather_rss(60);
    (void)bandwidth_all(threads, bw_mib);  // the workers' second measurement
    Comm::finalize();
    return 1;
  }
  RankModel& m = *loaded.value();
  // Bytes each rank reads per generated token (all its weights but the embedding table,
  // of which one row is read) — from the stats gather.
  channel_send(MsgKind::PING, {}, 60);
  std::vector<RankStats> stats = gather_rank_stats(&m, 60);
  BlockPool pool(m.kv_blocks());
  const double tmo = 600;
  std::vector<double> pp, tg;
  for (int r = 0; r < reps; ++r) {
    if (p > 0) pp.push_back(p / run_seq(m, pool, p, false, 1000 + r, tmo));
    if (n > 0) tg.push_back(n / run_seq(m, pool, n, true, 2000 + r, tmo));
    std::fprintf(stderr, "shardlm-perf: repetition %d/%d done\n", r + 1, reps);
  }
  channel_send(MsgKind::SHUTDOWN, {}, 60);
  (void)shutdown_gather_rss(60);
  const std::vector<double> bw_after = bandwidth_all(threads, bw_mib);
  double limit = 1e300, bytes_total = 0, before_total = 0, after_total = 0;
  for (int r = 0; r < Comm::size(); ++r) {
    const double b = stats[r].bytes_per_token;
    bytes_total += b;
    before_total += bw_before[r];
    after_total += bw_after[r];
    if (b > 0) limit = std::min(limit, (bw_before[r] + bw_after[r]) / 2 / b);
  }
  const std::string name = rt.model_path.substr(rt.model_path.find_last_of('/') + 1);
  const std::string setup = Comm::size() > 1 ? fmt::format("{} ranks x {} t", Comm::size(), threads) : fmt::format("{} t", threads);
  std::printf("| model | size | ranks x threads | test | t/s | fraction of limit |\n");
  std::printf("| --- | ---: | --- | --- | ---: | ---: |\n");
  auto row = [&](const char* test, int count, const std::vector<double>& v, bool decode) {
    if (v.empty()) return;
    MeanSd s = mean_sd(v);
    std::printf("| %s | %.2f GiB | %s | %s%d | %.2f ± %.2f | %s |\n", name.c_str(), bytes_total / 1073741824.0, setup.c_str(),
                test, count, s.mean, s.sd, decode ? fmt::format("{:.2f}", s.mean / limit).c_str() : "-");
  };
  row("pp", p, pp, false);
  row("tg", n, tg, true);
  std::printf("\nread bandwidth %.1f GB/s before, %.1f after (sum over ranks, measured concurrently); weights read "
              "per token %.3f GB; decode limit %.2f tok/s (mean bandwidth); cpu paths: %s\n",
              before_total / 1e9, after_total / 1e9, bytes_total / 1e9, limit, describe(cpu_features()).c_str());
  Comm::finalize();
  return 0;
}
