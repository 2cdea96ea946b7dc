#include "shardlm/model/llama2c.h"

#include <cstring>
#include <limits>

namespace shardlm {

namespace {

constexpr uint32_t kMagicV1 = 0x616b3432;  // "ak42": llama2.c export versions 1 and 2

bool checked_mul(uint64_t a, uint64_t b, uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

// Sum of products with overflow detection.
class Counter {
 public:
  void add(std::initializer_list<uint64_t> dims) {
    uint64_t p = 1;
    for (uint64_t d : dims)
      if (!checked_mul(p, d, p)) { ok_ = false; return; }
    if (p > std::numeric_limits<uint64_t>::max() - n_) { ok_ = false; return; }
    n_ += p;
  }
  bool ok() const { return ok_; }
  uint64_t value() const { return n_; }

 private:
  uint64_t n_ = 0;
  bool ok_ = true;
};

}  // namespace

uint64_t Llama2cFile::expected_size(const Llama2cHeader& h) {
  if (h.dim <= 0 || h.hidden_dim <= 0 || h.n_layers <= 0 || h.n_heads <= 0 || h.n_kv_heads <= 0 ||
      h.vocab_size <= 0 || h.seq_len <= 0)
    return 0;
  const uint64_t d = static_cast<uint64_t>(h.dim), f = static_cast<uint64_t>(h.hidden_dim),
                 L = static_cast<uint64_t>(h.n_layers), V = static_cast<uint64_t>(h.vocab_size),
                 S = static_cast<uint64_t>(h.seq_len), kv = static_cast<uint64_t>(h.kv_dim()),
                 hs2 = static_cast<uint64_t>(h.head_size() / 2);
  Counter c;
  c.add({V, d});                // token_embedding
  c.add({L, d});                // rms_att
  c.add({L, d, d});             // wq
  c.add({L, kv, d});            // wk
  c.add({L, kv, d});            // wv
  c.add({L, d, d});             // wo
  c.add({L, d});                // rms_ffn
  c.add({L, f, d});             // w1
  c.add({L, d, f});             // w2
  c.add({L, f, d});             // w3
  c.add({d});                   // rms_final
  c.add({S, hs2});              // freq_cis_real
  c.add({S, hs2});              // freq_cis_imag
  if (!h.shared_classifier) c.add({V, d});  // wcls
  uint64_t bytes = 0;
  if (!c.ok() || !checked_mul(c.value(), 4, bytes) || bytes > std::numeric_limits<uint64_t>::max() - 28) return 0;
  return bytes + 28;
}

Result<std::unique_ptr<Llama2cFile>> Llama2cFile::open(const std::string& path) {
  auto mf = MappedFile::open(path);
  if (!mf) return mf.status();
  auto r = parse((*mf)->data(), (*mf)->size(), path);
  if (!r) return r.status();
  r.value()->file_ = std::move(mf.value());
  return r;
}

Result<std::unique_ptr<Llama2cFile>> Llama2cFile::parse(const uint8_t* data, size_t size, const std::string& name) {
  auto fail = [&](const std::string& what) { return Status::errorf("{}: invalid llama2.c checkpoint: {}", name, what); };
  if (size < 28) return fail(fmt::format("file of {} bytes is too short for the 28-byte header", size));
  int32_t f[7];
  std::memcpy(f, data, sizeof f);
  if (static_cast<uint32_t>(f[0]) == kMagicV1)
    return fail(fmt::format("llama2.c export version {} (magic \"ak42\") is not supported; export with --version 0",
                            f[1]));
  std::unique_ptr<Llama2cFile> m(new Llama2cFile());
  m->path_ = name;
  Llama2cHeader& h = m->hdr_;
  h.dim = f[0];
  h.hidden_dim = f[1];
  h.n_layers = f[2];
  h.n_heads = f[3];
  h.n_kv_heads = f[4];
  h.shared_classifier = f[5] > 0;
  h.vocab_size = f[5] == std::numeric_limits<int32_t>::min() ? 0 : (f[5] < 0 ? -f[5] : f[5]);
  h.seq_len = f[6];
  const std::string hs = fmt::format("dim={} hidden_dim={} n_layers={} n_heads={} n_kv_heads={} vocab_size={} seq_len={}",
                                     f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
  if (h.dim <= 0 || h.hidden_dim <= 0 || h.n_layers <= 0 || h.n_heads <= 0 || h.n_kv_heads <= 0 || h.vocab_size <= 0 ||
      h.seq_len <= 0)
    return fail("header values must be positive (" + hs + ")");
  if (h.dim % h.n_heads != 0) return fail("dim is not a multiple of n_heads (" + hs + ")");
  if (h.n_kv_heads > h.n_heads || h.n_heads % h.n_kv_heads != 0)
    return fail("n_heads is not a multiple of n_kv_heads (" + hs + ")");
  if (h.head_size() % 2 != 0) return fail("head size dim/n_heads is odd (" + hs + ")");
  const uint64_t want = expected_size(h);
  if (want == 0) return fail("header sizes overflow (" + hs + ")");
  if (size < want)
    return fail(fmt::format("truncated: the header ({}) implies {} bytes, the file has {}", hs, want, size));
  if (size > want)
    return fail(fmt::format("the header ({}) implies {} bytes but the file has {} ({} extra): not a legacy llama2.c "
                            "checkpoint?",
                            hs, want, size, size - want));

  const int64_t d = h.dim, ff = h.hidden_dim, L = h.n_layers, V = h.vocab_size, kv = h.kv_dim();
  uint64_t off = 28;
  // Adds one tensor of `shape` at the current offset.
  auto add = [&](std::string tname, std::vector<int64_t> shape) {
    RawTensor t;
    t.name = std::move(tname);
    t.type = DType::F32;
    t.shape = std::move(shape);
    t.nbytes = static_cast<uint64_t>(t.numel()) * 4;
    t.data = data + off;
    t.file = name;
    off += t.nbytes;
    m->tensors_.push_back(std::move(t));
  };
  // A stacked [L, ...] array: one tensor per layer.
  auto add_layers = [&](const char* suffix, std::vector<int64_t> shape) {
    for (int64_t l = 0; l < L; ++l) add(fmt::format("blk.{}.{}.weight", l, suffix), shape);
  };
  add("token_embd.weight", {V, d});
  add_layers("attn_norm", {d});
  add_layers("attn_q", {d, d});
  add_layers("attn_k", {kv, d});
  add_layers("attn_v", {kv, d});
  add_layers("attn_output", {d, d});
  add_layers("ffn_norm", {d});
  add_layers("ffn_gate", {ff, d});
  add_layers("ffn_down", {d, ff});
  add_layers("ffn_up", {ff, d});
  add("output_norm.weight", {d});
  off += 2ull * static_cast<uint64_t>(h.seq_len) * static_cast<uint64_t>(h.head_size() / 2) * 4;  // freq_cis
  if (!h.shared_classifier) add("output.weight", {V, d});
  assert(off == want);
  for (size_t i = 0; i < m->tensors_.size(); ++i) m->index_[m->tensors_[i].name] = i;
  return m;
}

const RawTensor* Llama2cFile::tensor(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void Llama2cFile::release(const RawTensor& t) const {
  const RawTensor* own = tensor(t.name);
  if (!own || !file_) return;
  file_->release(static_cast<size_t>(own->data - file_->data()), own->nbytes);
}

}  // namespace shardlm
