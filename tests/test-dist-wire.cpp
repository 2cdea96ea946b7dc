// The rank-0 -> workers wire format: every message kind round-trips, and truncated or
// inconsistent payloads and headers are rejected (never read past the end).
#include <gtest/gtest.h>

#include "shardlm/protocol/wire.h"

using namespace shardlm;

TEST(Wire, StepRoundTripsAndTruncationIsAnError) {
  StepMsg s;
  s.step_id = 42;
  NewSeq n;
  n.seq_id = 7;
  n.start_pos = 16;
  n.n_prompt = 20;
  n.tokens = {1, 2, 3, 4};
  n.block_table = {5, 6};
  n.sample = true;
  n.n_top = 3;
  n.sampling.temperature = 0.5f;
  n.sampling.seed = 99;
  s.new_seqs.push_back(n);
  s.running.push_back({8, {11}, {12}, true});
  s.finished = {3, 4};
  s.kv_ops.push_back({1, 2, 3});
  s.drafts.push_back({8, {13, 14}});
  const std::vector<uint8_t> b = encode_step(s);
  auto d = decode_step(b.data(), b.size());
  ASSERT_TRUE(d) << d.message();
  EXPECT_EQ(d->step_id, 42u);
  ASSERT_EQ(d->new_seqs.size(), 1u);
  EXPECT_EQ(d->new_seqs[0].seq_id, 7u);
  EXPECT_EQ(d->new_seqs[0].start_pos, 16u);
  EXPECT_EQ(d->new_seqs[0].tokens, n.tokens);
  EXPECT_EQ(d->new_seqs[0].block_table, n.block_table);
  EXPECT_EQ(d->new_seqs[0].n_top, 3);
  EXPECT_EQ(d->new_seqs[0].sampling.seed, 99u);
  ASSERT_EQ(d->running.size(), 1u);
  EXPECT_EQ(d->running[0].tokens, std::vector<int32_t>{11});
  EXPECT_EQ(d->finished, (std::vector<uint64_t>{3, 4}));
  ASSERT_EQ(d->drafts.size(), 1u);
  EXPECT_EQ(d->drafts[0].tokens, (std::vector<int32_t>{13, 14}));
  for (size_t cut = 0; cut < b.size(); ++cut) EXPECT_FALSE(decode_step(b.data(), cut)) << "cut at " << cut;
}

TEST(Wire, LoadAndProbeRoundTrip) {
  const auto lb = encode_load(LoadMsg{"/m/model.gguf", R"({"threads":2})"});
  auto l = decode_load(lb.data(), lb.size());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->model_path, "/m/model.gguf");
  EXPECT_EQ(l->config_json, R"({"threads":2})");
  EXPECT_FALSE(decode_load(lb.data(), lb.size() - 1));

  const auto pb = encode_probe(ProbeMsg{1ull << 30, 2});
  auto p = decode_probe(pb.data(), pb.size());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->bytes, 1ull << 30);
  EXPECT_EQ(p->threads, 2u);
  EXPECT_FALSE(decode_probe(pb.data(), pb.size() - 1));  // truncated
  std::vector<uint8_t> longer = pb;
  longer.push_back(0);
  EXPECT_FALSE(decode_probe(longer.data(), longer.size()));  // trailing bytes
  const auto zero = encode_probe(ProbeMsg{0, 2});
  EXPECT_FALSE(decode_probe(zero.data(), zero.size()));  // nothing to read
  const auto no_threads = encode_probe(ProbeMsg{4096, 0});
  EXPECT_FALSE(decode_probe(no_threads.data(), no_threads.size()));
}

TEST(Wire, HeaderChecks) {
  MsgHeader h;
  for (uint16_t k = 1; k <= 6; ++k) {
    h.kind = k;
    EXPECT_TRUE(check_header(h)) << k;
  }
  EXPECT_EQ(static_cast<uint16_t>(MsgKind::PROBE), 6);
  h.kind = 7;
  EXPECT_FALSE(check_header(h));
  h.kind = 0;
  EXPECT_FALSE(check_header(h));
  h.kind = 1;
  h.magic = 0;
  EXPECT_FALSE(check_header(h));
  h.magic = kWireMagic;
  h.version = kWireVersion + 1;
  EXPECT_FALSE(check_header(h));
  h.version = kWireVersion;
  h.payload_bytes = 1ull << 40;
  EXPECT_FALSE(check_header(h));
}
