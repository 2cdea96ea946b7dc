// The rank-0 -> workers wire format (protocol/wire.h): every message kind round-trips,
// truncated or inconsistent payloads and headers are rejected (never read past the
// end), KV ops are refused until a feature consumes them, and row records
// are checked against the step's logit-row table.
#include <gtest/gtest.h>

#include <cstring>

#include "shardlm/protocol/wire.h"

using namespace shardlm;

namespace {

StepMsg sample_step() {
  StepMsg s;
  s.step_id = 42;
  NewSeq n;
  n.seq_id = 7;
  n.start_pos = 16;
  n.n_prompt = 20;
  n.tokens = {1, 2, 3, 4};
  n.block_table = {5, 6};
  n.history = {9, 8};
  n.n_top = 3;
  n.logprobs = true;
  n.sampling.temperature = 0.5f;
  n.sampling.top_k = 40;
  n.sampling.seed = 99;
  n.sampling.frequency_penalty = 0.25f;
  s.new_seqs.push_back(n);
  s.running.push_back({8, 21, {11}, {12}});
  s.rows = {{7, 17, {4, 9}}, {7, 19, {}}, {8, 30, {}}};  // two rows for sequence 7, the first with probes
  s.finished = {3, 4};
  return s;
}

}  // namespace

TEST(Wire, StepRoundTripsAndTruncationIsAnError) {
  const StepMsg s = sample_step();
  const std::vector<uint8_t> b = encode_step(s);
  // step_id 8; new 4 + (8+4+4 + 4+16 + 4+8 + 4+8 + 1+1 + 36 = 98); running 4 + (8 + 4 + 4+4 + 4+4 = 28);
  // rows 4 + 3 × 16 + 2 × 4 (probes); finished 4 + 2 × 8; kv_ops 4; masks 4.
  EXPECT_EQ(b.size(), 8u + 4 + 98 + 4 + 28 + 4 + 56 + 4 + 16 + 4 + 4);
  auto d = decode_step(b.data(), b.size());
  ASSERT_TRUE(d) << d.message();
  EXPECT_EQ(d->step_id, 42u);
  ASSERT_EQ(d->new_seqs.size(), 1u);
  EXPECT_EQ(d->new_seqs[0].seq_id, 7u);
  EXPECT_EQ(d->new_seqs[0].start_pos, 16u);
  EXPECT_EQ(d->new_seqs[0].n_prompt, 20u);
  EXPECT_EQ(d->new_seqs[0].tokens, s.new_seqs[0].tokens);
  EXPECT_EQ(d->new_seqs[0].block_table, s.new_seqs[0].block_table);
  EXPECT_EQ(d->new_seqs[0].history, s.new_seqs[0].history);
  EXPECT_EQ(d->new_seqs[0].n_top, 3);
  EXPECT_TRUE(d->new_seqs[0].logprobs);
  {  // the logprobs byte (after step_id, n_new, seq_id, start_pos, n_prompt, three Ints, n_top) is 0 or 1
    std::vector<uint8_t> bad = b;
    const size_t at = 8 + 4 + 8 + 4 + 4 + (4 + 16) + (4 + 8) + (4 + 8) + 1;
    ASSERT_EQ(bad[at], 1);
    bad[at] = 2;
    EXPECT_FALSE(decode_step(bad.data(), bad.size()));
  }
  EXPECT_EQ(d->new_seqs[0].sampling.seed, 99u);
  EXPECT_EQ(d->new_seqs[0].sampling.top_k, 40);
  EXPECT_EQ(d->new_seqs[0].sampling.frequency_penalty, 0.25f);
  ASSERT_EQ(d->running.size(), 1u);
  EXPECT_EQ(d->running[0].seq_id, 8u);
  EXPECT_EQ(d->running[0].start_pos, 21u);
  EXPECT_EQ(d->running[0].tokens, std::vector<int32_t>{11});
  EXPECT_EQ(d->running[0].new_blocks, std::vector<int32_t>{12});
  EXPECT_EQ(d->rows, s.rows);
  EXPECT_EQ(d->finished, (std::vector<uint64_t>{3, 4}));
  EXPECT_TRUE(d->kv_ops.empty());
  EXPECT_EQ(encode_step(d.value()), b) << "decode ∘ encode is the identity on the bytes";
  for (size_t cut = 0; cut < b.size(); ++cut) EXPECT_FALSE(decode_step(b.data(), cut)) << "cut at " << cut;
  std::vector<uint8_t> longer = b;
  longer.push_back(0);
  auto t = decode_step(longer.data(), longer.size());
  ASSERT_FALSE(t);
  EXPECT_NE(t.message().find("trailing"), std::string::npos) << t.message();
}

TEST(Wire, EmptyStepRoundTrips) {
  StepMsg s;
  s.step_id = 1;
  const auto b = encode_step(s);
  EXPECT_EQ(b.size(), 8u + 6 * 4);
  auto d = decode_step(b.data(), b.size());
  ASSERT_TRUE(d) << d.message();
  EXPECT_TRUE(d->rows.empty());
}

TEST(Wire, KvCopyOpsAreRejectedByThisBuild) {
  StepMsg s = sample_step();
  s.kv_ops.push_back({KvOpKind::copy, 2, 3, 0, 0, {}});
  EXPECT_FALSE(check_step_supported(s));
  auto b = encode_step(s);
  auto d = decode_step(b.data(), b.size());
  ASSERT_FALSE(d);
  EXPECT_NE(d.message().find("KV copy ops are not supported by this build"), std::string::npos) << d.message();
  for (size_t cut = 0; cut < b.size(); ++cut) EXPECT_FALSE(decode_step(b.data(), cut)) << "cut at " << cut;
  EXPECT_TRUE(check_step_supported(sample_step()));
}

TEST(Wire, OffloadAndRestoreOpsRoundTripWithTheirKeys) {
  StepMsg s = sample_step();
  s.kv_ops.push_back({KvOpKind::offload, 7, 0, 0x1122334455667788ull, 0x99aabbccddeeff00ull, {1, 2, 3, 4}});
  s.kv_ops.push_back({KvOpKind::restore, 0, 5, 0xfedcba9876543210ull, 0, {5, 6, 7, 8}});
  ASSERT_TRUE(check_step_supported(s));
  auto b = encode_step(s);
  // Each op: kind 1, src 4, dst 4, hash 8, parent 8, Ints (4 + 4 × 4).
  EXPECT_EQ(b.size(), encode_step(sample_step()).size() + 2 * (1 + 4 + 4 + 8 + 8 + 4 + 16));
  auto d = decode_step(b.data(), b.size());
  ASSERT_TRUE(d) << d.message();
  ASSERT_EQ(d->kv_ops.size(), 2u);
  EXPECT_EQ(d->kv_ops[0], s.kv_ops[0]);
  EXPECT_EQ(d->kv_ops[1], s.kv_ops[1]);
  for (size_t cut = 0; cut < b.size(); ++cut) EXPECT_FALSE(decode_step(b.data(), cut)) << "cut at " << cut;

  // An unknown KV op kind is malformed. The last op starts 45 bytes before the mask count.
  const size_t op = b.size() - 4 - (1 + 4 + 4 + 8 + 8 + 4 + 16);
  ASSERT_EQ(b[op], static_cast<uint8_t>(KvOpKind::restore));
  for (uint8_t bad : {uint8_t{0}, uint8_t{4}, uint8_t{255}}) {
    b[op] = bad;
    auto u = decode_step(b.data(), b.size());
    ASSERT_FALSE(u);
    EXPECT_NE(u.message().find("unknown KV op kind"), std::string::npos) << u.message();
  }
  // A token count past the payload is truncation, not a read past the end.
  b[op] = static_cast<uint8_t>(KvOpKind::restore);
  const size_t count_at = op + 1 + 4 + 4 + 8 + 8;
  b[count_at] = 200;
  EXPECT_FALSE(decode_step(b.data(), b.size()));
}

TEST(Wire, RowMasksRoundTripAndBadRowsAreMalformed) {
  StepMsg s = sample_step();
  RowMask a{0, {0x1ull, ~0ull, 0x8000000000000000ull}};
  RowMask c{2, {0x0ull, 0x42ull, 0x1ull}};
  s.masks = {a, c};
  auto b = encode_step(s);
  // Each mask: row 4, n_words 4, 3 × 8.
  EXPECT_EQ(b.size(), encode_step(sample_step()).size() + 2 * (4 + 4 + 24));
  auto d = decode_step(b.data(), b.size());
  ASSERT_TRUE(d) << d.message();
  EXPECT_EQ(d->masks, s.masks);
  EXPECT_EQ(encode_step(d.value()), b);
  for (size_t cut = 0; cut < b.size(); ++cut) EXPECT_FALSE(decode_step(b.data(), cut)) << "cut at " << cut;
  for (auto rows : {std::vector<uint32_t>{2, 0}, std::vector<uint32_t>{1, 1}, std::vector<uint32_t>{0, 3}}) {
    StepMsg bad = s;
    bad.masks[0].row = rows[0];
    bad.masks[1].row = rows[1];
    auto bb = encode_step(bad);
    auto e = decode_step(bb.data(), bb.size());
    ASSERT_FALSE(e) << rows[0] << "," << rows[1];
    EXPECT_NE(e.message().find("mask for row"), std::string::npos) << e.message();
  }
}

TEST(Wire, ProbesRoundTripAndAreBounded) {
  StepMsg s = sample_step();
  const auto ok = encode_step(s);
  auto d = decode_step(ok.data(), ok.size());
  ASSERT_TRUE(d) << d.message();
  EXPECT_EQ(d->rows, s.rows);
  EXPECT_EQ(d->rows[0].probe, (std::vector<int32_t>{4, 9}));
  s.rows[1].probe.assign(Candidates::kMaxProbe + 1, 3);
  const auto b = encode_step(s);
  auto bad = decode_step(b.data(), b.size());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("probe"), std::string::npos) << bad.message();
}

TEST(Wire, RowRecordsAreCheckedAgainstTheTable) {
  const StepMsg s = sample_step();
  const int K = 4, world = 2;
  const size_t rec = row_record_bytes(K);
  EXPECT_EQ(rec, kRowHeaderBytes + Candidates::record_bytes(K));
  // Rank r, row i: a greedy record whose argmax token is 100 * r + i.
  auto records = [&](const StepMsg& table, int ranks) {
    std::vector<uint8_t> out;
    for (int r = 0; r < ranks; ++r)
      for (size_t i = 0; i < table.rows.size(); ++i) {
        Candidates c;
        c.k = 1;
        c.max_logit = 2.0f;
        c.lse = 2.5;
        c.top = {{static_cast<int32_t>(100 * r + i), 2.0f}};
        c.probe_logits.assign(table.rows[i].probe.size(), r == 0 ? 1.5f : Candidates::kNegInf);
        encode_row_record({static_cast<uint32_t>(i), static_cast<uint32_t>(table.rows.size()), table.rows[i].pos,
                           table.step_id, table.rows[i].seq_id},
                          c, K, out);
      }
    return out;
  };
  std::vector<uint8_t> all = records(s, world);
  ASSERT_EQ(all.size(), rec * s.rows.size() * world);
  auto ok = decode_step_rows(s, all.data(), all.size(), world, K);
  ASSERT_TRUE(ok) << ok.message();
  EXPECT_EQ(ok->rows, s.rows);
  ASSERT_EQ(ok->cands.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(ok->cands[i].size(), 2u);
    for (int r = 0; r < world; ++r) EXPECT_EQ(ok->cands[i][r].top[0].first, 100 * r + static_cast<int>(i));
  }
  EXPECT_FALSE(decode_step_rows(s, all.data(), all.size() - 1, world, K)) << "short gather";
  EXPECT_FALSE(decode_step_rows(s, all.data(), all.size(), world + 1, K)) << "wrong rank count";

  // Rank 1 executed another table: other position, other sequence, other size, other step.
  auto mismatch = [&](auto edit) {
    StepMsg other = s;
    edit(other);
    std::vector<uint8_t> bad = records(s, 1);
    std::vector<uint8_t> r1 = records(other, 2);
    bad.insert(bad.end(), r1.begin() + r1.size() / 2, r1.end());
    bad.resize(all.size());  // a different table size still fills the fixed-size gather
    return decode_step_rows(s, bad.data(), bad.size(), world, K);
  };
  auto pos = mismatch([](StepMsg& m) { m.rows[1].pos = 18; });
  ASSERT_FALSE(pos);
  EXPECT_NE(pos.message().find("rank 1 row 1"), std::string::npos) << pos.message();
  EXPECT_FALSE(mismatch([](StepMsg& m) { m.rows[2].seq_id = 9; }));
  EXPECT_FALSE(mismatch([](StepMsg& m) { m.rows.push_back({8, 31}); }));
  EXPECT_FALSE(mismatch([](StepMsg& m) { m.step_id = 43; }));
  auto probes = mismatch([](StepMsg& m) { m.rows[0].probe = {4}; });
  ASSERT_FALSE(probes) << "a record with another probe count";
  EXPECT_NE(probes.message().find("probe logits"), std::string::npos) << probes.message();
  EXPECT_FALSE(mismatch([](StepMsg& m) { std::swap(m.rows[0], m.rows[1]); })) << "rows out of table order";

  std::vector<uint8_t> garbled = all;
  garbled[rec * 4] ^= 0xff;  // rank 1 row 1: magic
  EXPECT_FALSE(decode_step_rows(s, garbled.data(), garbled.size(), world, K));
  garbled = all;
  garbled[rec * 4 + kRowHeaderBytes] ^= 0xff;  // its candidates record's magic
  EXPECT_FALSE(decode_step_rows(s, garbled.data(), garbled.size(), world, K));

  StepMsg none = s;
  none.rows.clear();
  auto empty = decode_step_rows(none, nullptr, 0, world, K);
  ASSERT_TRUE(empty) << empty.message();
  EXPECT_TRUE(empty->cands.empty());
}

TEST(Wire, LoadAndProbeRoundTrip) {
  const auto lb = encode_load(LoadMsg{"/m/model.gguf", R"({"threads":2})"});
  auto l = decode_load(lb.data(), lb.size());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->model_path, "/m/model.gguf");
  EXPECT_EQ(l->config_json, R"({"threads":2})");
  for (size_t cut = 0; cut < lb.size(); ++cut) EXPECT_FALSE(decode_load(lb.data(), cut)) << "cut at " << cut;

  const auto pb = encode_probe(ProbeMsg{1ull << 30, 2});
  auto p = decode_probe(pb.data(), pb.size());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->bytes, 1ull << 30);
  EXPECT_EQ(p->threads, 2u);
  for (size_t cut = 0; cut < pb.size(); ++cut) EXPECT_FALSE(decode_probe(pb.data(), cut)) << "cut at " << cut;
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
  EXPECT_EQ(kWireVersion, 9);
  uint8_t raw[16];
  std::memcpy(raw, &h, sizeof h);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(raw), 4), "SLMW");
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
  h.version = 4;
  EXPECT_FALSE(check_header(h)) << "a version 4 peer (no start_pos in RunningSeq) is refused";
  h.version = kWireVersion + 1;
  EXPECT_FALSE(check_header(h));
  h.version = kWireVersion;
  h.payload_bytes = 1ull << 40;
  EXPECT_FALSE(check_header(h));
}
