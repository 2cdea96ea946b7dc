// shardlm-perf: prompt-processing and generation speed of one model, in the shape of
// llama.cpp's llama-bench, with the machine's read bandwidth measured in the same run
// and the decode limit it implies (bandwidth / bytes of weights read per token).
//
//   mpirun -n K --bind-to none build/shardlm-perf --model M.gguf -p 512 -n 128 -r 3 -t 2
//
// -d/--depth N (llama-bench's -d): N tokens of context in the KV cache (prefilled once, in
// chunks of 512, not timed; every test continues from it), then each test times its pp or
// tg tokens at positions N.. — decode speed with a long context, e.g. per --kv-cache-dtype.
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
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <thread>
#include <utility>
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
#include "shardlm/kernels/mac-rate.h"
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

// The context of -d/--depth: `depth` positions of KV, prefilled once (in chunks of 512,
// untimed) and shared by every test, which continues from it in blocks of its own (a
// partial last block is shared too: each test rewrites the positions >= depth in it).
struct Context {
  int depth = 0;
  std::vector<int32_t> blocks;  // [blocks_for(depth)]
};

int32_t perf_token(int i, int32_t n_vocab) { return static_cast<int32_t>((static_cast<int64_t>(i) * 7919 + 13) % n_vocab); }

// Sequence `seq_id` at positions [ctx.depth, ctx.depth + n_tokens): all at once (pp) or one
// per step (tg); with `fill`, positions [0, ctx.depth) first, untimed, writing the
// context's blocks. Returns the seconds of the timed steps (freeing not included).
double run_seq(StepExecutor& x, BlockPool& pool, const Context& ctx, bool fill, int n_tokens, bool one_per_step, uint64_t seq_id,
               double tmo) {
  RankModel& m = x.model();
  const int bs = m.config().block_size;
  const int depth = ctx.depth;
  const int extra = blocks_for(depth + n_tokens, bs) - static_cast<int>(ctx.blocks.size());
  auto own = pool.allocate(extra);
  if (!own) Comm::fatal("error", "KV pool too small for the test");
  std::vector<int32_t> table = ctx.blocks;
  table.insert(table.end(), own->begin(), own->end());
  const int32_t nv = m.hparams().n_vocab;
  StepRows out;
  SamplingParams greedy;
  greedy.temperature = 0;
  uint64_t step = 0;
  const int first = fill ? 0 : depth;
  // Positions [at, at + count) in one step; the first step admits the sequence.
  auto compute = [&](int at, int count) {
    StepMsg s;
    s.step_id = step++;
    std::vector<int32_t> toks;
    for (int i = at; i < at + count; ++i) toks.push_back(perf_token(i, nv));
    if (at == first) {
      NewSeq ns;
      ns.seq_id = seq_id;
      ns.start_pos = static_cast<uint32_t>(at);
      ns.n_prompt = static_cast<uint32_t>(depth + n_tokens);
      ns.tokens = toks;
      ns.block_table = table;
      ns.sampling = greedy;
      s.new_seqs.push_back(ns);
    } else {
      s.running.push_back({seq_id, static_cast<uint32_t>(at), toks, {}});
    }
    s.rows.push_back({seq_id, static_cast<uint32_t>(at + count - 1)});
    if (!run_step_rank0(x, s, tmo, out)) Comm::fatal("error", "step failed");
  };
  if (fill) {
    for (int at = 0; at < depth; at += 512) {
      compute(at, std::min(512, depth - at));
      std::fprintf(stderr, "shardlm-perf: context %d/%d\n", std::min(at + 512, depth), depth);
    }
  }
  const auto t0 = Clock::now();
  if (one_per_step)
    for (int i = depth; i < depth + n_tokens; ++i) compute(i, 1);
  else
    compute(depth, n_tokens);
  const double dt = seconds(Clock::now() - t0);
  StepMsg fin;
  fin.finished.push_back(seq_id);
  (void)run_step_rank0(x, fin, tmo, out);
  pool.release(*own);
  return dt;
}

// `b` sequences decoded together, as the server's continuous batching runs them: one
// prompt token each, then steps of b rows (one per sequence) until each holds
// `n_tokens`. Returns the seconds of the computing steps.
double run_batch(StepExecutor& x, BlockPool& pool, int b, int n_tokens, uint64_t seq0, double tmo) {
  RankModel& m = x.model();
  const int bs = m.config().block_size;
  const int32_t nv = m.hparams().n_vocab;
  auto tok = [&](int i, int s) { return static_cast<int32_t>((static_cast<int64_t>(i) * 7919 + 13 + 101 * s) % nv); };
  SamplingParams greedy;
  greedy.temperature = 0;
  std::vector<std::vector<int32_t>> blocks;
  StepMsg s;
  for (int q = 0; q < b; ++q) {
    auto bl = pool.allocate(blocks_for(n_tokens, bs));
    if (!bl) Comm::fatal("error", "KV pool too small for the test");
    blocks.push_back(*bl);
    NewSeq ns;
    ns.seq_id = seq0 + static_cast<uint64_t>(q);
    ns.n_prompt = 1;
    ns.tokens.push_back(tok(0, q));
    ns.block_table = *bl;
    ns.sampling = greedy;
    s.new_seqs.push_back(ns);
    s.rows.push_back({ns.seq_id, 0});
  }
  StepRows out;
  const auto t0 = Clock::now();
  if (!run_step_rank0(x, s, tmo, out)) Comm::fatal("error", "step failed");
  for (int i = 1; i < n_tokens; ++i) {
    StepMsg r;
    r.step_id = static_cast<uint64_t>(i);
    for (int q = 0; q < b; ++q) {
      r.running.push_back({seq0 + static_cast<uint64_t>(q), static_cast<uint32_t>(i), {tok(i, q)}, {}});
      r.rows.push_back({seq0 + static_cast<uint64_t>(q), static_cast<uint32_t>(i)});
    }
    if (!run_step_rank0(x, r, tmo, out)) Comm::fatal("error", "step failed");
  }
  const double dt = seconds(Clock::now() - t0);
  StepMsg fin;
  for (int q = 0; q < b; ++q) fin.finished.push_back(seq0 + static_cast<uint64_t>(q));
  (void)run_step_rank0(x, fin, tmo, out);
  for (auto& bl : blocks) pool.release(bl);
  return dt;
}

// Multiply-adds per token of this rank's matrices: in the layers, in the output
// projection, and how many of them run on the integer kernels (Panel32 weights).
struct Macs {
  double layers = 0, output = 0, int8 = 0;
};
Macs macs_of(const ModelWeights& w) {
  Macs r;
  auto add = [&](const WeightMatrix& m, double& to) {
    const double k = static_cast<double>(m.rows) * static_cast<double>(m.cols);
    to += k;
    if (m.layout == WeightLayout::Panel32) r.int8 += k;
  };
  for (const LayerWeights& l : w.layers)
    for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) add(*m, r.layers);
  add(w.output, r.output);
  return r;
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
  app.add_flag("!--no-pack-weights", rt.pack_weights, "keep matrices as stored (no 32-row panels for Q8_0/Q4_0/Q4_K/Q6_K, no Rows8 for F16/BF16/F32 at the avx2 level)");
  std::string isa;
  app.add_option("--isa", isa, "kernel level cap, as SHARDLM_ISA: scalar avx2 avxvnni avx512 vnni native");
  std::vector<int> batches;
  app.add_option("-b,--batch", batches, "batched decode: sequences per step, e.g. 1,4,8,16 (each decodes -n tokens)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--bw-mib", bw_mib, "MiB read per bandwidth pass, per rank")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  if (!Comm::init(&argc, &argv)) return 1;
  log_init(Comm::rank(), "warn");
  kernels_init();
  // --isa / SHARDLM_ISA=scalar|avx2|avxvnni|avx512|vnni: measure a lower path on this
  // machine (as `shardlm` does), e.g. what an AVX2-only CPU runs.
  if (!isa.empty()) setenv("SHARDLM_ISA", isa.c_str(), 1);
  if (Status st = apply_cpu_env(); !st) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 2;
  }
  audit_start(Comm::rank());
  const int threads = rt.threads > 0 ? rt.threads
                                     : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / Comm::local_size());
  rt.threads = threads;
  rt.n_ctx = depth + std::max(p, n) + 16;
  rt.max_seqs = std::max(1, batches.empty() ? 1 : *std::max_element(batches.begin(), batches.end()));

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
  // Compute ceiling: the MAC rates of this rank's threads (tight loops of the kernels'
  // instructions at this level), measured once, before the runs.
  const double int8_rate = int8_mac_rate(threads), f32_rate = f32_mac_rate(threads);
  const Macs macs = macs_of(m.weights());
  // The bandwidth left to us drifts on a shared machine: each generation run is
  // bracketed by two measurements, and its fraction uses their mean.
  std::vector<double> pp, tg, fractions, limits, bw_sums;
  std::vector<std::vector<double>> batch_tps(batches.size());
  Context ctx;
  ctx.depth = depth;
  if (depth > 0) {  // filled by the first test
    auto bl = pool.allocate(blocks_for(depth, m.config().block_size));
    if (!bl) Comm::fatal("error", "KV pool too small for the context");
    ctx.blocks = *bl;
  }
  bool fill = depth > 0;
  for (int r = 0; r < reps; ++r) {
    if (p > 0) pp.push_back(p / run_seq(exec, pool, ctx, std::exchange(fill, false), p, false, 1000 + r, tmo));
    if (n > 0) {
      const std::vector<double> before = bandwidth_all(threads, bw_mib);
      tg.push_back(n / run_seq(exec, pool, ctx, std::exchange(fill, false), n, true, 2000 + r, tmo));
      const std::vector<double> after = bandwidth_all(threads, bw_mib);
      std::vector<double> mean(before.size());
      for (size_t i = 0; i < mean.size(); ++i) mean[i] = (before[i] + after[i]) / 2;
      limits.push_back(limit_of(mean));
      fractions.push_back(tg.back() / limits.back());
      for (const auto* v : {&before, &after}) bw_sums.push_back(std::accumulate(v->begin(), v->end(), 0.0));
    }
    for (size_t i = 0; i < batches.size() && n > 0; ++i)
      batch_tps[i].push_back(batches[i] * n / run_batch(exec, pool, batches[i], n, 10000 + 100 * (r * batches.size() + i), tmo));
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
  // Ceilings of a step of `rows` rows (tokens), each row reading the output projection or
  // not: compute = MAC rates / MACs per token (int8 kernels for the Panel32 share);
  // bandwidth = rows * the per-token limit (a step reads the weights once).
  const double limit = median(limits);
  auto compute_ceiling = [&](bool output) {
    const double total = macs.layers + macs.output, per_tok = macs.layers + (output ? macs.output : 0);
    const double fi = int8_rate > 0 && total > 0 ? macs.int8 / total : 0;
    return 1.0 / (per_tok * fi / std::max(1.0, int8_rate) + per_tok * (1 - fi) / f32_rate);
  };
  std::printf("| model | size | ranks x threads | kv | test | t/s | median t/s | ms/step | fraction of bw limit | compute ceiling | "
              "bandwidth ceiling | of nearer |\n");
  std::printf("| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  const std::string at = depth > 0 ? fmt::format(" @ d{}", depth) : "";
  auto row = [&](const std::string& test, const std::vector<double>& v, double rows_per_step, bool output, bool decode) {
    if (v.empty()) return;
    MeanSd s = mean_sd(v);
    const double cc = compute_ceiling(output), bc = rows_per_step * limit;
    std::printf("| %s | %.2f GiB | %s | %s | %s%s | %.2f ± %.2f | %.2f | %.1f | %s | %.1f | %.1f | %.2f |\n", name.c_str(),
                bytes_total / 1073741824.0, setup.c_str(), rt.kv_cache_dtype.c_str(), test.c_str(), at.c_str(), s.mean, s.sd,
                median(v), 1e3 * rows_per_step / s.mean,
                decode ? fmt::format("{:.2f}", median(fractions)).c_str() : "-", cc, bc, s.mean / std::min(cc, bc));
  };
  row(fmt::format("pp{}", p), pp, p, false, false);
  row(fmt::format("tg{}", n), tg, 1, true, true);
  for (size_t i = 0; i < batches.size(); ++i) row(fmt::format("tg{} x{}", n, batches[i]), batch_tps[i], batches[i], true, false);
  const auto [lo, hi] = std::minmax_element(bw_sums.begin(), bw_sums.end());
  std::printf("\nread bandwidth %.1f GB/s (median of %zu measurements around the generation runs, %.1f-%.1f; sum over "
              "ranks, measured concurrently); weights read per token %.3f GB; decode limit %.2f tok/s (median); "
              "fraction = median over runs of tg / the limit of its own two measurements; kernel level %s; cpu paths: %s\n",
              median(bw_sums) / 1e9, bw_sums.size(), *lo / 1e9, *hi / 1e9, bytes_total / 1e9, limit,
              kernel_level(cpu_features()), describe(cpu_features()).c_str());
  std::printf("compute (rank 0, %d threads at once): int8 %.1f GMAC/s, f32 %.1f GMAC/s; per token %.3f G MACs in the "
              "layers + %.3f G in the output projection, %.0f%% on the int8 kernels; tg x B: B sequences per step, "
              "t/s summed over them; ceilings in tok/s; of nearer = t/s / min(compute, bandwidth ceiling)\n",
              threads, int8_rate / 1e9, f32_rate / 1e9, macs.layers / 1e9, macs.output / 1e9,
              100 * macs.int8 / std::max(1.0, macs.layers + macs.output));
  Comm::finalize();
  return 0;
}
