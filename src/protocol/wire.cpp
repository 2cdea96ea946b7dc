#include "shardlm/protocol/wire.h"

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
    w.put<uint8_t>(s.sample ? 1 : 0);
    w.put<uint8_t>(s.n_top);
    w.sampling(s.sampling);
  }
  w.put<uint32_t>(static_cast<uint32_t>(m.running.size()));
  for (const auto& s : m.running) {
    w.put<uint64_t>(s.seq_id);
    w.ints(s.tokens);
    w.ints(s.new_blocks);
    w.put<uint8_t>(s.sample ? 1 : 0);
  }
  w.put<uint32_t>(static_cast<uint32_t>(m.finished.size()));
  for (auto id : m.finished) w.put<uint64_t>(id);
  w.put<uint32_t>(static_cast<uint32_t>(m.kv_ops.size()));
  for (const auto& op : m.kv_ops) {
    w.put<uint8_t>(op.op);
    w.put<int32_t>(op.src);
    w.put<int32_t>(op.dst);
  }
  w.put<uint32_t>(static_cast<uint32_t>(m.drafts.size()));
  for (const auto& d : m.drafts) {
    w.put<uint64_t>(d.seq_id);
    w.ints(d.tokens);
  }
  return std::move(w.out);
}

Result<StepMsg> decode_step(const uint8_t* data, size_t n) {
  Reader r(data, n);
  StepMsg m;
  m.step_id = r.get<uint64_t>();
  uint32_t nn = r.count(8 + 4 + 4 + 4 + 4 + 4 + 1 + 1 + 36);
  for (uint32_t i = 0; i < nn && r.ok; ++i) {
    NewSeq s;
    s.seq_id = r.get<uint64_t>();
    s.start_pos = r.get<uint32_t>();
    s.n_prompt = r.get<uint32_t>();
    s.tokens = r.ints();
    s.block_table = r.ints();
    s.history = r.ints();
    s.sample = r.get<uint8_t>() != 0;
    s.n_top = r.get<uint8_t>();
    s.sampling = r.sampling();
    m.new_seqs.push_back(std::move(s));
  }
  uint32_t nr = r.count(8 + 4 + 4 + 1);
  for (uint32_t i = 0; i < nr && r.ok; ++i) {
    RunningSeq s;
    s.seq_id = r.get<uint64_t>();
    s.tokens = r.ints();
    s.new_blocks = r.ints();
    s.sample = r.get<uint8_t>() != 0;
    m.running.push_back(std::move(s));
  }
  uint32_t nf = r.count(8);
  for (uint32_t i = 0; i < nf && r.ok; ++i) m.finished.push_back(r.get<uint64_t>());
  uint32_t nk = r.count(9);
  for (uint32_t i = 0; i < nk && r.ok; ++i) {
    KvOp op;
    op.op = r.get<uint8_t>();
    op.src = r.get<int32_t>();
    op.dst = r.get<int32_t>();
    m.kv_ops.push_back(op);
  }
  uint32_t nd = r.count(12);
  for (uint32_t i = 0; i < nd && r.ok; ++i) {
    DraftTokens d;
    d.seq_id = r.get<uint64_t>();
    d.tokens = r.ints();
    m.drafts.push_back(std::move(d));
  }
  if (!r.ok) return Status::error("malformed STEP message: truncated");
  if (!r.at_end()) return Status::error("malformed STEP message: trailing bytes");
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
  if (h.kind < 1 || h.kind > 6) return Status::errorf("unknown message kind {}", h.kind);
  if (h.payload_bytes > (1ull << 31)) return Status::errorf("message payload of {} bytes too large", h.payload_bytes);
  return Status::ok();
}

}  // namespace shardlm
