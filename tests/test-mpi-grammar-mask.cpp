// Grammar masks through the real step path (wire v7 RowMask → every rank masks its
// vocabulary slice → candidates → merge), under mpiexec with 1, 2 and 4 ranks:
// stories260K generates under a JSON schema with top_k / top_p / temperature and
// penalties, beside an unconstrained greedy sequence in the same steps.
//  - every rank's candidates (top entries and Gumbel winner) are tokens the mask allows,
//    and so is every merged token; the output is a whole document that parses;
//  - the unconstrained sequence's tokens equal the same sequence run alone (a mask
//    belongs to its row);
//  - the constrained tokens are the same at every world size: each run writes them to
//    $SHARDLM_TEST_MODELS/../test-results/grammar-mask-np<N>.txt and compares with the files of the other
//    world sizes written by this same binary (ctest runs np1 before np2 and np4);
//  - a mask of the wrong size is an error, before any collective.
#include <gtest/gtest.h>
#include <mpi.h>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "shardlm/cluster/channel.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/cluster/rank-model.h"
#include "shardlm/cluster/step-executor.h"
#include "shardlm/core/log.h"
#include "shardlm/grammar/token-mask.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/model/model-source.h"
#include "shardlm/sampling/allowed-tokens.h"
#include "shardlm/sampling/merge.h"
#include "shardlm/tokenizer/tokenizer.h"

using namespace shardlm;

namespace {

constexpr double kTimeout = 60;
constexpr int kMaxTokens = 160;
const char* kSchema = R"({"type":"object","properties":{"unit":{"enum":["celsius","fahrenheit"]},"days":{"type":"integer"},
  "at":{"type":"object","properties":{"hour":{"type":"integer"},"ok":{"type":"boolean"}},"required":["hour"]},
  "tags":{"type":"array","items":{"enum":["a","bb",7]},"maxItems":3}},"required":["unit","days","at"]})";

std::string model_path() {
  const char* s = std::getenv("SHARDLM_SHARED");
  return (s ? std::string(s) : std::string(SHARDLM_SOURCE_DIR) + "/../shared") + "/models/stories260K/stories260K.gguf";
}

SamplingParams constrained_sampling() {
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_k = 40;
  p.top_p = 0.9f;
  p.seed = 77;
  p.repetition_penalty = 1.1f;
  p.presence_penalty = 0.3f;
  return p;
}

NewSeq new_seq(uint64_t id, int32_t first_block, int n_blocks, const std::vector<int32_t>& toks, SamplingParams p) {
  NewSeq n;
  n.seq_id = id;
  n.n_prompt = static_cast<uint32_t>(toks.size());
  n.tokens = toks;
  for (int b = 0; b < n_blocks; ++b) n.block_table.push_back(first_block + b);
  n.sampling = p;
  return n;
}

// Rank 0's side of the generation: the grammar and the tokens so far.
struct GenRun {
  std::vector<int32_t> constrained, plain;
  std::string doc;
  bool finished = false;
};

// Workers: execute steps until one frees sequences (the last of a run).
void worker_until_finished(StepExecutor& x) {
  for (;;) {
    Message msg = channel_recv(kTimeout);
    ASSERT_EQ(msg.kind, MsgKind::STEP);
    auto d = decode_step(msg.payload.data(), msg.payload.size());
    if (!d) Comm::fatal("error", "test: " + d.message());
    Status st = run_step_worker(x, d.value(), kTimeout);
    if (!st) Comm::fatal("error", "test: " + st.message());
    if (!d->finished.empty()) return;
  }
}

// Rank 0: sequence 1 constrained (if with_grammar), sequence 2 greedy unconstrained,
// decoded together until the grammar is finished (or kMaxTokens), then both freed.
GenRun drive(StepExecutor& x, const Tokenizer& tok, bool with_grammar, uint64_t id0, const std::vector<int32_t>& prompt) {
  GenRun run;
  auto g = grammar::compile(nlohmann::json::parse(kSchema));
  EXPECT_TRUE(g) << g.message();
  grammar::MaskComputer mc(grammar::TokenTrie::build(tok));
  grammar::GrammarState st(g.value());
  const uint64_t a = id0, b = id0 + 1;
  SamplingParams greedy;
  greedy.temperature = 0;
  for (int step = 0; step < kMaxTokens; ++step) {
    StepMsg m;
    m.step_id = id0 * 1000 + static_cast<uint64_t>(step);
    const auto n = static_cast<uint32_t>(prompt.size()) + static_cast<uint32_t>(step);  // positions known
    if (step == 0) {
      if (with_grammar) m.new_seqs.push_back(new_seq(a, 0, 12, prompt, constrained_sampling()));
      m.new_seqs.push_back(new_seq(b, 12, 12, prompt, greedy));
    } else {
      if (with_grammar && !run.finished) m.running.push_back({a, n - 1, {run.constrained.back()}, {}});
      m.running.push_back({b, n - 1, {run.plain.back()}, {}});
    }
    const bool constrained_row = with_grammar && !run.finished;
    if (constrained_row) {
      m.rows.push_back({a, n - 1});
      m.masks.push_back({0, mc.mask(st)});
    }
    m.rows.push_back({b, n - 1});
    const bool last = step + 1 == kMaxTokens || (!with_grammar && step + 1 == 40);
    StepRows out;
    Status s = run_step_rank0(x, m, kTimeout, out);
    EXPECT_TRUE(s) << s.message();
    if (!s) break;
    size_t row = 0;
    if (constrained_row) {
      const grammar::TokenMask& mask = m.masks[0].bits;
      for (size_t r = 0; r < out.cands[0].size(); ++r) {
        for (const auto& [id, logit] : out.cands[0][r].top)
          EXPECT_TRUE(grammar::mask_allows(mask, id)) << "rank " << r << " candidate " << id << " step " << step;
        if (out.cands[0][r].sample_token >= 0) {
          EXPECT_TRUE(grammar::mask_allows(mask, out.cands[0][r].sample_token)) << "rank " << r << " step " << step;
        }
      }
      const int32_t t = merge_and_sample(out.cands[0], constrained_sampling(), 0, n);
      EXPECT_TRUE(t >= 0 && grammar::mask_allows(mask, t)) << "merged token " << t << " step " << step;
      EXPECT_TRUE(mc.accept(st, t)) << t;
      run.constrained.push_back(t);
      if (!tok.is_eog(t)) run.doc += tok.token_piece(t);
      run.finished = st.is_finished() || tok.is_eog(t);
      row = 1;
    }
    run.plain.push_back(merge_and_sample(out.cands[row], greedy, 0, n));
    if (last || (with_grammar && run.finished && step >= 40)) break;
  }
  StepMsg fin;
  fin.step_id = id0 * 1000 + 999;
  fin.finished = with_grammar ? std::vector<uint64_t>{a, b} : std::vector<uint64_t>{b};
  StepRows none;
  Status s = run_step_rank0(x, fin, kTimeout, none);
  EXPECT_TRUE(s) << s.message();
  return run;
}

std::string join(const std::vector<int32_t>& v) {
  std::ostringstream o;
  for (auto t : v) o << t << ' ';
  return o.str();
}

// This binary's identity: its size and modification time.
std::string binary_id() {
  struct stat sb {};
  if (stat("/proc/self/exe", &sb) != 0) return "?";
  return std::to_string(sb.st_size) + ":" + std::to_string(sb.st_mtime);
}

void compare_world_sizes(const std::string& tokens) {
  const char* models = std::getenv("SHARDLM_TEST_MODELS");
  if (!models) return;
  // Beside the test models' directory, not in it: other tests read every file there as a model.
  const std::string dir = (std::filesystem::path(models).parent_path() / "test-results").string();
  std::filesystem::create_directories(dir);
  const std::string id = binary_id();
  if (Comm::rank() == 0)
    std::ofstream(dir + "/grammar-mask-np" + std::to_string(Comm::size()) + ".txt") << id << "\n" << tokens << "\n";
  int compared = 0;
  for (int np : {1, 2, 4}) {
    if (np == Comm::size()) continue;
    std::ifstream f(dir + "/grammar-mask-np" + std::to_string(np) + ".txt");
    std::string their_id, their_tokens;
    if (!std::getline(f, their_id) || !std::getline(f, their_tokens) || their_id != id) continue;
    EXPECT_EQ(tokens, their_tokens) << "constrained tokens at world " << Comm::size() << " vs " << np;
    ++compared;
  }
  std::printf("constrained tokens compared with %d other world size(s)\n", compared);
}

}  // namespace

TEST(GrammarMask, MaskedRowsOnEverySliceAndUnmaskedRowsUntouched) {
  const std::string path = model_path();
  if (!ModelSource::open(path)) GTEST_SKIP() << path << " not available";
  RuntimeConfig rc;
  rc.model_path = path;
  rc.threads = 1;
  rc.n_ctx = 256;
  rc.kv_blocks = 24;
  rc.block_size = 16;
  rc.max_seqs = 4;
  rc.eval_timeout_s = kTimeout;
  rc.collective_timeout_s = kTimeout;
  auto loaded = load_rank_model(rc);
  ASSERT_TRUE(loaded) << loaded.message();
  StepExecutor x(*loaded.value());
  if (Comm::rank() != 0) {
    worker_until_finished(x);
    worker_until_finished(x);
    return;
  }
  auto tok = load_tokenizer(path);
  ASSERT_TRUE(tok) << tok.message();
  const std::vector<int32_t> prompt = tok.value()->encode("Once upon a time, the weather", true, false);
  const GenRun both = drive(x, *tok.value(), true, 10, prompt);
  const GenRun alone = drive(x, *tok.value(), false, 20, prompt);
  EXPECT_TRUE(both.finished) << "the document did not finish in " << kMaxTokens << " tokens: " << both.doc;
  auto doc = nlohmann::json::parse(both.doc, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << both.doc;
  EXPECT_TRUE(doc.contains("unit") && doc.contains("days") && doc["at"].contains("hour")) << both.doc;
  std::printf("world=%d constrained: %s\n", Comm::size(), both.doc.c_str());
  const size_t n = std::min(both.plain.size(), alone.plain.size());
  EXPECT_GE(n, 40u);
  EXPECT_EQ(std::vector<int32_t>(both.plain.begin(), both.plain.begin() + static_cast<long>(n)),
            std::vector<int32_t>(alone.plain.begin(), alone.plain.begin() + static_cast<long>(n)))
      << "the unconstrained row changed when a constrained row shared its steps";
  compare_world_sizes(join(both.constrained));
}

// A mask that does not cover the vocabulary is refused on every rank, before any collective.
TEST(GrammarMask, WrongSizedMaskIsAnError) {
  const std::string path = model_path();
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
  StepMsg m;
  m.step_id = 3;
  m.new_seqs.push_back(new_seq(1, 0, 1, {1, 2}, SamplingParams{}));
  m.rows = {{1, 1}};
  m.masks = {{0, std::vector<uint64_t>(allowed_mask_words(loaded.value()->hparams().n_vocab) + 1, ~0ull)}};
  std::vector<uint8_t> rec;
  Status st = x.execute(m, rec);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("mask for row 0 has"), std::string::npos) << st.message();
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!Comm::init(&argc, &argv)) return 1;
  log_init(Comm::rank(), "warn");
  kernels_init();
  if (Comm::rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int rc = RUN_ALL_TESTS();
  int worst = rc;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  Comm::finalize();
  return worst;
}
