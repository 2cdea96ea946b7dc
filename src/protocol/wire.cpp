// Encode/decode of the step protocol (grammar: protocol/step-msg.h). Pure functions.
#include "shardlm/protocol/wire.h"

#include <cassert>
#include <cstring>

namespace shardlm {

namespace {

class Writer {
 public:
  std::vector<uint8_t> out;
  template <typename T>
  void put(T v) {
    size_t o = out.size();
    out.resize(o + sizeof(T));
    std::memcpy(out.data() + o, &v, sizeof(T));
  }
  void ints(const std::vector<int32_t>& v) {
    put<uint32_t>(static_cast<uint32_t>(v.size()));
    size_t o = out.size();
    out.resize(o + v.size() * 4);
    if (!v.empty()) std::memcpy(out.data() + o, v.data(), v.size() * 4);
  }
  void str(const std::string& s) {
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  void sampling(const SamplingParams& s) {
    put<float>(s.temperature);
    put<int32_t>(s.top_k);
    put<float>(s.top_p);
    put<float>(s.min_p);
    put<uint64_t>(s.seed);
    put<float>(s.repetition_penalty);
    put<float>(s.presence_penalty);
    put<float>(s.frequency_penalty);
  }
};

class Reader {
 public:
  Reader(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  bool ok = true;
  template <typename T>
  T get() {
    T v{};
    if (n_ - p_ < sizeof(T)) {
      ok = false;
      return v;
    }
    std::memcpy(&v, d_ + p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  std::vector<int32_t> ints() {
    uint32_t c = get<uint32_t>();
    std::vector<int32_t> v;
    if (!ok || c > (n_ - p_) / 4) {
      ok = false;
      return v;
    }
    v.resize(c);
    if (c) std::memcpy(v.data(), d_ + p_, c * 4ull);
    p_ += c * 4ull;
    return v;
  }
  std::string str() {
    uint32_t c = get<uint32_t>();
    if (!ok || c > n_ - p_) {
      ok = false;
      return {};
    }
    std::string s(reinterpret_cast<const char*>(d_ + p_), c);
    p_ += c;
    return s;
  }
  uint32_t count(size_t min_elem_bytes) {
    uint32_t c = get<uint32_t>();
    if (!ok || c > (n_ - p_) / min_elem_bytes) ok = false;
    return ok ? c : 0;
  }
  SamplingParams sampling() {
    SamplingParams s;
    s.temperature = get<float>();
    s.top_k = get<int32_t>();
    s.top_p = get<float>();
    s.min_p = get<float>();
    s.seed = get<uint64_t>();
    s.repetition_penalty = get<float>();
    s.presence_penalty = get<float>();
    s.frequency_penalty = get<float>();
    return s;
  }
  std::vector<uint64_t> words() {
    uint32_t c = get<uint32_t>();
    std::vector<uint64_t> v;
    if (!ok || c > (n_ - p_) / 8) {
      ok = false;
      return v;
    }
    v.resize(c);
    if (c) std::memcpy(v.data(), d_ + p_, c * 8ull);
    p_ += c * 8ull;
    return v;
  }
  bool at_end() const { return p_ == n_; }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t p_ = 0;
};

}  // namespace

std::vector<uint8_t> encode_step(const StepMsg& m) {
  Writer w;
  w.put<uint64_t>(m.step_id);
  w.put<uint32_t>(static_cast<uint32_t>(m.new_seqs.size()));
  for (const auto& s : m.new_seqs) {
    w.put<uint64_t>(s.seq_id);
    w.put<uint32_t>(s.start_pos);
    w.put<uint32_t>(s.n_prompt);
    w.ints(s.tokens);
    w.ints(s.block_table);
    w.ints(s.history);
    w.put<uint8_t>(s.n_top);
    w.put<uint8_t>(s.logprobs ? 1 : 0);
    w.sampling(s.sampling);
  }
  w.put<uint32_t>(static_cast<uint32_t>(m.running.size()));
  for (const auto& s : m.running) {
    w.put<uint64_t>(s.seq_id);
    w.put<uint32_t>(s.start_pos);
    w.ints(s.tokens);
    w.ints(s.new_blocks);
  }
  w.put<uint32_t>(static_cast<uint32_t>(m.rows.size()));
  for (const auto& r : m.rows) {
    w.put<uint64_t>(r.seq_id);
    w.put<uint32_t>(r.pos);
    w.ints(r.probe);
  }
  w.put<uint32_t>(static_cast<uint32_t>(m.finished.size()));
  for (auto id : m.finished) w.put<uint64_t>(id);
  w.put<uint32_t>(static_cast<uint32_t>(m.kv_ops.size()));
  for (const auto& op : m.kv_ops) {
    w.put<uint8_t>(static_cast<uint8_t>(op.kind));
    w.put<int32_t>(op.src);
    w.put<int32_t>(op.dst);
    w.put<uint64_t>(op.hash);
    w.put<uint64_t>(op.parent);
    w.ints(op.tokens);
  }
  w.put<uint32_t>(static_cast<uint32_t>(m.masks.size()));
  for (const auto& mk : m.masks) {
    w.put<uint32_t>(mk.row);
    w.put<uint32_t>(static_cast<uint32_t>(mk.bits.size()));
    const size_t o = w.out.size();
    w.out.resize(o + mk.bits.size() * 8);
    if (!mk.bits.empty()) std::memcpy(w.out.data() + o, mk.bits.data(), mk.bits.size() * 8);
  }
  return std::move(w.out);
}

namespace {

// Smallest encodings (empty Ints), so that a count can be checked against the bytes left.
constexpr size_t kMinNewSeq = 8 + 4 + 4 + 4 + 4 + 4 + 1 + 1 + 36;
constexpr size_t kMinRunningSeq = 8 + 4 + 4 + 4;
constexpr size_t kLogitRow = 8 + 4 + 4;
constexpr size_t kKvOp = 1 + 4 + 4 + 8 + 8 + 4;
constexpr size_t kMinRowMask = 4 + 4;

bool known_kv_op(uint8_t k) {
  return k == static_cast<uint8_t>(KvOpKind::copy) || k == static_cast<uint8_t>(KvOpKind::offload) ||
         k == static_cast<uint8_t>(KvOpKind::restore);
}

void read_seqs(Reader& r, StepMsg& m) {
  uint32_t nn = r.count(kMinNewSeq);
  for (uint32_t i = 0; i < nn && r.ok; ++i) {
    NewSeq s;
    s.seq_id = r.get<uint64_t>();
    s.start_pos = r.get<uint32_t>();
    s.n_prompt = r.get<uint32_t>();
    s.tokens = r.ints();
    s.block_table = r.ints();
    s.history = r.ints();
    s.n_top = r.get<uint8_t>();
    const uint8_t lp = r.get<uint8_t>();
    if (lp > 1) r.ok = false;
    s.logprobs = lp == 1;
    s.sampling = r.sampling();
    m.new_seqs.push_back(std::move(s));
  }
  uint32_t nr = r.count(kMinRunningSeq);
  for (uint32_t i = 0; i < nr && r.ok; ++i) {
    RunningSeq s;
    s.seq_id = r.get<uint64_t>();
    s.start_pos = r.get<uint32_t>();
    s.tokens = r.ints();
    s.new_blocks = r.ints();
    m.running.push_back(std::move(s));
  }
  uint32_t nrows = r.count(kLogitRow);
  for (uint32_t i = 0; i < nrows && r.ok; ++i) {
    LogitRow row;
    row.seq_id = r.get<uint64_t>();
    row.pos = r.get<uint32_t>();
    row.probe = r.ints();
    m.rows.push_back(std::move(row));
  }
  uint32_t nf = r.count(8);
  for (uint32_t i = 0; i < nf && r.ok; ++i) m.finished.push_back(r.get<uint64_t>());
}

}  // namespace

Status check_step_supported(const StepMsg& m) {
  for (const auto& op : m.kv_ops)
    if (op.kind == KvOpKind::copy)
      return Status::errorf("step {}: a KV copy op: KV copy ops are not supported by this build", m.step_id);
  return Status::ok();
}

Result<StepMsg> decode_step(const uint8_t* data, size_t n) {
  Reader r(data, n);
  StepMsg m;
  m.step_id = r.get<uint64_t>();
  read_seqs(r, m);
  uint32_t nk = r.count(kKvOp);
  for (uint32_t i = 0; i < nk && r.ok; ++i) {
    const uint8_t kind = r.get<uint8_t>();
    KvOp op;
    op.src = r.get<int32_t>();
    op.dst = r.get<int32_t>();
    op.hash = r.get<uint64_t>();
    op.parent = r.get<uint64_t>();
    op.tokens = r.ints();
    if (r.ok && !known_kv_op(kind)) return Status::errorf("malformed STEP message: unknown KV op kind {}", kind);
    op.kind = static_cast<KvOpKind>(kind);
    m.kv_ops.push_back(std::move(op));
  }
  uint32_t nm = r.count(kMinRowMask);
  for (uint32_t i = 0; i < nm && r.ok; ++i) {
    RowMask mk;
    mk.row = r.get<uint32_t>();
    mk.bits = r.words();
    if (r.ok && (mk.row >= m.rows.size() || (!m.masks.empty() && mk.row <= m.masks.back().row)))
      return Status::errorf("malformed STEP message: mask for row {} (table of {} rows, previous mask row {})", mk.row,
                            m.rows.size(), m.masks.empty() ? -1 : static_cast<int64_t>(m.masks.back().row));
    m.masks.push_back(std::move(mk));
  }
  if (!r.ok) return Status::error("malformed STEP message: truncated");
  if (!r.at_end()) return Status::error("malformed STEP message: trailing bytes");
  for (const auto& row : m.rows)
    if (row.probe.size() > static_cast<size_t>(Candidates::kMaxProbe))
      return Status::errorf("malformed STEP message: a row names {} probe tokens (at most {})", row.probe.size(),
                            Candidates::kMaxProbe);
  SHARDLM_TRY(check_step_supported(m));
  return m;
}

std::vector<uint8_t> encode_load(const LoadMsg& m) {
  Writer w;
  w.str(m.model_path);
  w.str(m.config_json);
  return std::move(w.out);
}

Result<LoadMsg> decode_load(const uint8_t* data, size_t n) {
  Reader r(data, n);
  LoadMsg m;
  m.model_path = r.str();
  m.config_json = r.str();
  if (!r.ok || !r.at_end()) return Status::error("malformed LOAD message");
  return m;
}

std::vector<uint8_t> encode_probe(const ProbeMsg& m) {
  Writer w;
  w.put<uint64_t>(m.bytes);
  w.put<uint32_t>(m.threads);
  return std::move(w.out);
}

Result<ProbeMsg> decode_probe(const uint8_t* data, size_t n) {
  Reader r(data, n);
  ProbeMsg m;
  m.bytes = r.get<uint64_t>();
  m.threads = r.get<uint32_t>();
  if (!r.ok || !r.at_end() || m.bytes == 0 || m.threads == 0 || m.threads > 4096)
    return Status::error("malformed PROBE message");
  return m;
}

Status check_header(const MsgHeader& h) {
  if (h.magic != kWireMagic) return Status::errorf("bad message magic 0x{:08x}", h.magic);
  if (h.version != kWireVersion) return Status::errorf("message version {} (this build speaks {})", h.version, kWireVersion);
  if (h.kind < static_cast<uint16_t>(MsgKind::STEP) || h.kind > static_cast<uint16_t>(MsgKind::PROBE)) return Status::errorf("unknown message kind {}", h.kind);
  if (h.payload_bytes > (1ull << 31)) return Status::errorf("message payload of {} bytes too large", h.payload_bytes);
  return Status::ok();
}

namespace {
constexpr uint32_t kRowMagic = 0x524D4C53u;  // "SLMR"
}  // namespace

size_t row_record_bytes(int K) { return kRowHeaderBytes + Candidates::record_bytes(K); }

void encode_row_record(const RowRecordHeader& h, const Candidates& c, int K, std::vector<uint8_t>& out) {
  Writer w;
  w.put<uint32_t>(kRowMagic);
  w.put<uint32_t>(h.row);
  w.put<uint32_t>(h.n_rows);
  w.put<uint32_t>(h.pos);
  w.put<uint64_t>(h.step_id);
  w.put<uint64_t>(h.seq_id);
  assert(w.out.size() == kRowHeaderBytes);
  out.insert(out.end(), w.out.begin(), w.out.end());
  c.serialize(out, K);
}

Result<StepRows> decode_step_rows(const StepMsg& step, const uint8_t* gathered, size_t n, int world, int K) {
  const size_t rec = row_record_bytes(K), n_rows = step.rows.size();
  if (world < 1 || n != rec * n_rows * static_cast<size_t>(world))
    return Status::errorf("step {}: {} bytes of row records for {} rows of {} bytes from {} ranks", step.step_id, n, n_rows,
                          rec, world);
  StepRows out;
  out.rows = step.rows;
  out.cands.assign(n_rows, std::vector<Candidates>(static_cast<size_t>(world)));
  for (int r = 0; r < world; ++r)
    for (size_t i = 0; i < n_rows; ++i) {
      const uint8_t* p = gathered + (static_cast<size_t>(r) * n_rows + i) * rec;
      Reader rd(p, kRowHeaderBytes);
      const uint32_t magic = rd.get<uint32_t>();
      RowRecordHeader h;
      h.row = rd.get<uint32_t>();
      h.n_rows = rd.get<uint32_t>();
      h.pos = rd.get<uint32_t>();
      h.step_id = rd.get<uint64_t>();
      h.seq_id = rd.get<uint64_t>();
      const LogitRow& want = step.rows[i];
      if (magic != kRowMagic)
        return Status::errorf("step {}: rank {} row {}: not a row record (magic 0x{:08x})", step.step_id, r, i, magic);
      if (h.step_id != step.step_id || h.n_rows != n_rows || h.row != i || h.seq_id != want.seq_id || h.pos != want.pos)
        return Status::errorf(
            "step {}: rank {} row {}: record for step {} row {}/{} (seq {} pos {}), but the table has {} rows and row {} "
            "is seq {} pos {}",
            step.step_id, r, i, h.step_id, h.row, h.n_rows, h.seq_id, h.pos, n_rows, i, want.seq_id, want.pos);
      auto c = Candidates::deserialize(p + kRowHeaderBytes, rec - kRowHeaderBytes);
      if (!c) return c.status().with_context(fmt::format("step {}: rank {} row {}", step.step_id, r, i));
      if (c.value().probe_logits.size() != want.probe.size())
        return Status::errorf("step {}: rank {} row {}: {} probe logits for {} probe tokens", step.step_id, r, i,
                              c.value().probe_logits.size(), want.probe.size());
      out.cands[i][static_cast<size_t>(r)] = std::move(c.value());
    }
  return out;
}

}  // namespace shardlm
