// The logit-row table (protocol/step-msg.h) through the real step path: one STEP whose
// table asks for a row at every position of a prompt (in reverse order, two sequences
// interleaved) gives, row for row, the candidates of feeding the prompt one token per
// step with one row each: the same per-rank argmax, Gumbel winner and log-sum-exp, and
// the same merged token, greedy and sampled with penalties (so the RNG counter of a row
// is pos + 1 and its penalty counts stop at pos). Run under mpiexec with 1, 2 and 4
// ranks; rank 0 drives the steps with run_step_rank0, the others receive them through
// the channel as their worker loop does. Also: rows the executor must refuse.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstdlib>
#include <set>

#include "shardlm/core/log.h"
#include "shardlm/cluster/channel.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/cluster/rank-model.h"
#include "shardlm/cluster/step-executor.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/model/model-source.h"
#include "shardlm/sampling/merge.h"

using namespace shardlm;

namespace {

constexpr double kTimeout = 60;

std::string shared_path(const std::string& rel) {
  const char* s = std::getenv("SHARDLM_SHARED");
  std::string base = s ? s : std::string(SHARDLM_SOURCE_DIR) + "/../shared";
  return base + "/" + rel;
}

// One STEP on every rank; rank 0 gets the rows.
StepRows step_all(StepExecutor& x, const StepMsg& m) {
  StepRows out;
  if (Comm::rank() == 0) {
    Status st = run_step_rank0(x, m, kTimeout, out);
    EXPECT_TRUE(st) << st.message();
  } else {
    Message msg = channel_recv(kTimeout);
    EXPECT_EQ(msg.kind, MsgKind::STEP);
    auto d = decode_step(msg.payload.data(), msg.payload.size());
    if (!d) Comm::fatal("error", "test: " + d.message());
    (void)run_step_worker(x, d.value(), kTimeout);
  }
  return out;
}

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0;
  return p;
}
// Exact full-vocabulary sampling (Gumbel) with every penalty on.
SamplingParams sampled() {
  SamplingParams p;
  p.temperature = 0.8f;
  p.seed = 1234;
  p.repetition_penalty = 1.3f;
  p.presence_penalty = 0.2f;
  p.frequency_penalty = 0.5f;
  return p;
}

NewSeq new_seq(uint64_t id, int32_t block, const std::vector<int32_t>& toks, uint32_t n_prompt, SamplingParams p) {
  NewSeq n;
  n.seq_id = id;
  n.n_prompt = n_prompt;
  n.tokens = toks;
  n.block_table = {block};
  n.sampling = p;
  n.n_top = 2;
  return n;
}

// The same row computed two ways: every rank's record agrees, and so does the merge.
void expect_same(const std::vector<Candidates>& got, const std::vector<Candidates>& want, const SamplingParams& p,
                 uint32_t pos, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t r = 0; r < got.size(); ++r) {
    const Candidates &g = got[r], &w = want[r];
    const double tol = 1e-4 * std::max(1.0, std::fabs(w.lse));
    EXPECT_NEAR(g.lse, w.lse, tol) << what << " pos " << pos << " rank " << r;
    EXPECT_NEAR(g.max_logit, w.max_logit, tol) << what << " pos " << pos << " rank " << r;
    ASSERT_FALSE(g.top.empty()) << what << " pos " << pos << " rank " << r;
    ASSERT_FALSE(w.top.empty()) << what << " pos " << pos << " rank " << r;
    EXPECT_EQ(g.top[0].first, w.top[0].first) << what << " pos " << pos << " rank " << r << ": argmax";
    EXPECT_EQ(g.sample_token, w.sample_token) << what << " pos " << pos << " rank " << r << ": Gumbel winner";
  }
  EXPECT_EQ(merge_and_sample(got, p, 0, pos + 1), merge_and_sample(want, p, 0, pos + 1)) << what << " pos " << pos;
}

void check_model(const std::string& path) {
  RuntimeConfig rc;
  rc.model_path = path;
  rc.threads = 1;
  rc.n_ctx = 64;
  rc.kv_blocks = 8;
  rc.block_size = 16;
  rc.max_seqs = 4;
  rc.eval_timeout_s = kTimeout;
  rc.collective_timeout_s = kTimeout;
  auto loaded = load_rank_model(rc);
  ASSERT_TRUE(loaded) << loaded.message();
  StepExecutor x(*loaded.value());
  const int V = loaded.value()->hparams().n_vocab;
  std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 11, 7, 300, 403, 407};  // repeats: the penalties matter
  for (auto& t : prompt) t %= V;
  const auto N = static_cast<uint32_t>(prompt.size());
  const uint32_t n_prompt_b = 4;  // sequence B: positions >= 4 count as generated (presence/frequency)

  // 1. One step: A (greedy) and B (sampled, penalties), a row at every position, last first.
  StepMsg all;
  all.step_id = 1;
  all.new_seqs.push_back(new_seq(1, 0, prompt, N, greedy()));
  all.new_seqs.push_back(new_seq(2, 1, prompt, n_prompt_b, sampled()));
  for (uint32_t p = N; p-- > 0;) {
    all.rows.push_back({2, p});
    all.rows.push_back({1, p});
  }
  const StepRows batched = step_all(x, all);

  // 2. The same prompts one token per step, one row each: C like A, D like B.
  std::vector<StepRows> single;
  for (uint32_t p = 0; p < N; ++p) {
    StepMsg s;
    s.step_id = 2 + p;
    if (p == 0) {
      s.new_seqs.push_back(new_seq(3, 2, {prompt[0]}, N, greedy()));
      s.new_seqs.push_back(new_seq(4, 3, {prompt[0]}, n_prompt_b, sampled()));
    } else {
      s.running.push_back({3, p, {prompt[p]}, {}});
      s.running.push_back({4, p, {prompt[p]}, {}});
    }
    s.rows = {{3, p}, {4, p}};
    single.push_back(step_all(x, s));
  }
  StepMsg fin;
  fin.step_id = 100;
  fin.finished = {1, 2, 3, 4};
  (void)step_all(x, fin);
  EXPECT_EQ(x.n_seqs(), 0u);
  if (Comm::rank() != 0) return;

  ASSERT_EQ(batched.rows, all.rows);
  ASSERT_EQ(batched.cands.size(), 2u * N);
  std::set<long long> lses;  // distinct greedy log-sum-exps (rounded): the rows are not all one row
  for (uint32_t p = 0; p < N; ++p) {
    const size_t row_b = 2 * (N - 1 - p), row_a = row_b + 1;
    ASSERT_EQ(single[p].cands.size(), 2u);
    ASSERT_EQ(single[p].rows[0], (LogitRow{3, p}));
    expect_same(batched.cands[row_a], single[p].cands[0], greedy(), p, path + " greedy");
    expect_same(batched.cands[row_b], single[p].cands[1], sampled(), p, path + " sampled+penalties");
    lses.insert(std::llround(batched.cands[row_a][0].lse * 1e3));
  }
  EXPECT_GT(lses.size(), N / 2) << "the rows at different positions should differ";
  std::printf("%s: world=%d, %u positions in one step match one token per step\n", path.c_str(), Comm::size(), N);
}

}  // namespace

TEST(LogitRows, EveryPositionInOneStepMatchesOneTokenPerStep) {
  std::vector<std::string> paths;
  for (const char* rel : {"models/stories260K/stories260K.gguf", "models/TinyStories-656K"})
    if (ModelSource::open(shared_path(rel))) paths.push_back(shared_path(rel));
  if (const char* dir = std::getenv("SHARDLM_TEST_MODELS"))
    for (const char* name : {"tiny-llama-f32.gguf", "tiny-qwen3-f32.gguf", "tiny-llama-q8_0.gguf"}) {
      const std::string p = std::string(dir) + "/" + name;
      if (ModelSource::open(p)) paths.push_back(p);
    }
  if (paths.empty()) GTEST_SKIP() << "no model (../shared absent, SHARDLM_TEST_MODELS unset)";
  for (const auto& p : paths) check_model(p);
}

// Rows the executor refuses, before any collective (so every rank checks on its own).
TEST(LogitRows, BadRowsAndUnsupportedPartsAreErrors) {
  const std::string path = shared_path("models/stories260K/stories260K.gguf");
  if (!ModelSource::open(path)) GTEST_SKIP() << path << " not available";
  RuntimeConfig rc;
  rc.model_path = path;
  rc.threads = 1;
  rc.n_ctx = 64;
  rc.kv_blocks = 4;
  rc.eval_timeout_s = kTimeout;
  rc.collective_timeout_s = kTimeout;
  auto loaded = load_rank_model(rc);
  ASSERT_TRUE(loaded) << loaded.message();
  StepExecutor x(*loaded.value());
  std::vector<uint8_t> rec;
  auto error_of = [&](const StepMsg& m) {
    Status st = x.execute(m, rec);
    return st ? std::string("(ok)") : st.message();
  };
  StepMsg m;
  m.step_id = 5;
  m.rows = {{9, 0}};
  std::string e = error_of(m);
  EXPECT_NE(e.find("names sequence 9, which computes no tokens in this step"), std::string::npos) << e;
  m.kv_ops.push_back({KvOpKind::copy, 0, 1, 0, 0, {}});
  e = error_of(m);
  EXPECT_NE(e.find("KV copy ops are not supported by this build"), std::string::npos) << e;
  if (Comm::rank() == 0) {  // rank 0 refuses before broadcasting: the workers see nothing
    StepRows out;
    Status st = run_step_rank0(x, m, kTimeout, out);
    ASSERT_FALSE(st);
    EXPECT_NE(st.message().find("KV copy ops are not supported by this build"), std::string::npos) << st.message();
  }
  m.kv_ops.clear();
  // A position the new sequence does not compute in this step (it computes 0 and 1).
  StepMsg bad;
  bad.step_id = 6;
  bad.new_seqs.push_back(new_seq(1, 0, {1, 2}, 2, greedy()));
  bad.rows = {{1, 2}};
  e = error_of(bad);
  EXPECT_NE(e.find("asks for position 2 of sequence 1, which computes positions [0, 2)"), std::string::npos) << e;
  // (The refused step left sequence 1 known with nothing computed.) A running sequence
  // computing nothing has no rows; a row may not repeat.
  StepMsg again;
  again.step_id = 7;
  again.running.push_back({1, 0, {}, {}});
  again.rows = {{1, 0}};
  e = error_of(again);
  EXPECT_NE(e.find("asks for position 0 of sequence 1, which computes positions [0, 0)"), std::string::npos) << e;
  again.running[0].tokens = {3};
  again.rows = {{1, 0}, {1, 0}};
  e = error_of(again);
  EXPECT_NE(e.find("row 1 repeats sequence 1 position 0"), std::string::npos) << e;
  StepMsg twice;
  twice.step_id = 8;
  twice.running = {{1, 0, {3}, {}}, {1, 0, {4}, {}}};
  e = error_of(twice);
  EXPECT_NE(e.find("sequence 1 appears twice"), std::string::npos) << e;
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!Comm::init(&argc, &argv)) return 1;
  log_init(Comm::rank(), "warn");
  kernels_init();
  if (Comm::rank() != 0) {  // only rank 0 prints results
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int rc = RUN_ALL_TESTS();
  int worst = rc;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  Comm::finalize();
  return worst;
}
