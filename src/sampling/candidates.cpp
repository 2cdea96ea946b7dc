#include "shardlm/sampling/candidates.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

#include "shardlm/sampling/rng.h"

namespace shardlm {
namespace {

// Record layout (native byte order; all ranks share one architecture):
//   0  u32 magic "SLMC"      4  u8 mode, u8[3] zero   8  i32 k        12 i32 n_top
//   16 f32 max_logit         20 f32 temperature       24 f64 lse
//   32 i32 sample_token      36 f32 sample_logit      40 f64 sample_key
//   48 K x (i32 token, f32 logit), the first n_top used, the rest zero.
//   48+8K u32 n_probe, then kMaxProbe x f32 probe logit (the first n_probe used).
constexpr uint32_t kMagic = 0x434D4C53u;  // "SLMC"
constexpr size_t kHeader = 48;
constexpr size_t kEntry = 8;

template <typename T>
void put(uint8_t* p, size_t off, T v) {
  std::memcpy(p + off, &v, sizeof v);
}
template <typename T>
T get(const uint8_t* p, size_t off) {
  T v;
  std::memcpy(&v, p + off, sizeof v);
  return v;
}

// Strict order of candidates: higher logit first, then lower token id.
bool better(const std::pair<int32_t, float>& a, const std::pair<int32_t, float>& b) {
  return a.second > b.second || (a.second == b.second && a.first < b.first);
}

}  // namespace

constexpr size_t kProbeBlock = 4 + 4 * static_cast<size_t>(Candidates::kMaxProbe);

size_t Candidates::record_bytes(int K) { return kHeader + kEntry * static_cast<size_t>(std::max(K, 1)) + kProbeBlock; }

void Candidates::serialize(std::vector<uint8_t>& out, int K) const {
  K = std::max(K, 1);
  assert(top.size() <= static_cast<size_t>(K) && "Candidates::serialize: more entries than the record holds");
  const size_t n_top = std::min(top.size(), static_cast<size_t>(K));
  const size_t o = out.size();
  out.resize(o + record_bytes(K), 0);
  uint8_t* p = out.data() + o;
  put<uint32_t>(p, 0, kMagic);
  put<uint8_t>(p, 4, static_cast<uint8_t>(mode));
  put<int32_t>(p, 8, std::min(k, K));
  put<int32_t>(p, 12, static_cast<int32_t>(n_top));
  put<float>(p, 16, max_logit);
  put<float>(p, 20, temperature);
  put<double>(p, 24, lse);
  put<int32_t>(p, 32, sample_token);
  put<float>(p, 36, sample_logit);
  put<double>(p, 40, sample_key);
  for (size_t i = 0; i < n_top; ++i) {
    put<int32_t>(p, kHeader + i * kEntry, top[i].first);
    put<float>(p, kHeader + i * kEntry + 4, top[i].second);
  }
  assert(probe_logits.size() <= static_cast<size_t>(kMaxProbe) && "Candidates::serialize: too many probes");
  const size_t pb = kHeader + kEntry * static_cast<size_t>(K);
  const size_t n_probe = std::min(probe_logits.size(), static_cast<size_t>(kMaxProbe));
  put<uint32_t>(p, pb, static_cast<uint32_t>(n_probe));
  for (size_t i = 0; i < n_probe; ++i) put<float>(p, pb + 4 + 4 * i, probe_logits[i]);
}

Result<Candidates> Candidates::deserialize(const uint8_t* p, size_t n) {
  if (n < kHeader + kEntry + kProbeBlock) return Status::errorf("sampling candidates: record of {} bytes is too short", n);
  if (get<uint32_t>(p, 0) != kMagic) return Status::error("sampling candidates: bad record magic");
  Candidates c;
  const uint8_t mode = get<uint8_t>(p, 4);
  if (mode > static_cast<uint8_t>(SamplingMode::filtered))
    return Status::errorf("sampling candidates: unknown mode {}", mode);
  c.mode = static_cast<SamplingMode>(mode);
  c.k = get<int32_t>(p, 8);
  const int32_t n_top = get<int32_t>(p, 12);
  const size_t room = (n - kHeader - kProbeBlock) / kEntry;
  if (c.k < 0 || static_cast<size_t>(c.k) > room || n_top < 0 || n_top > c.k)
    return Status::errorf("sampling candidates: counts k={} n_top={} do not fit a record of {} bytes", c.k, n_top, n);
  c.max_logit = get<float>(p, 16);
  c.temperature = get<float>(p, 20);
  c.lse = get<double>(p, 24);
  c.sample_token = get<int32_t>(p, 32);
  c.sample_logit = get<float>(p, 36);
  c.sample_key = get<double>(p, 40);
  if (!(c.temperature > 0.0f) || std::isnan(c.lse) || std::isnan(c.max_logit) || c.sample_token < -1 ||
      std::isnan(c.sample_key))
    return Status::error("sampling candidates: corrupt record header");
  c.top.resize(static_cast<size_t>(n_top));
  for (int32_t i = 0; i < n_top; ++i) {
    auto& e = c.top[static_cast<size_t>(i)];
    e.first = get<int32_t>(p, kHeader + static_cast<size_t>(i) * kEntry);
    e.second = get<float>(p, kHeader + static_cast<size_t>(i) * kEntry + 4);
    if (e.first < 0 || !std::isfinite(e.second) || (i > 0 && !better(c.top[static_cast<size_t>(i) - 1], e)))
      return Status::errorf("sampling candidates: entry {} (token {}) is invalid or out of order", i, e.first);
  }
  const size_t pb = n - kProbeBlock;
  const uint32_t n_probe = get<uint32_t>(p, pb);
  if (n_probe > static_cast<uint32_t>(kMaxProbe))
    return Status::errorf("sampling candidates: {} probe logits (at most {})", n_probe, kMaxProbe);
  c.probe_logits.resize(n_probe);
  for (uint32_t i = 0; i < n_probe; ++i) {
    c.probe_logits[i] = get<float>(p, pb + 4 + 4 * static_cast<size_t>(i));
    if (std::isnan(c.probe_logits[i]) || c.probe_logits[i] == std::numeric_limits<float>::infinity())
      return Status::errorf("sampling candidates: probe logit {} is not a logit", i);
  }
  return c;
}

Candidates reduce_slice(const float* logits, int32_t v0, int32_t n, const SamplingParams& p, uint64_t seq_stream,
                        uint64_t step_counter, int K, int n_top, const std::vector<int32_t>* probe, bool need_lse) {
  K = std::max(K, 1);
  Candidates c;
  const bool probing = probe && !probe->empty();
  auto is_probe = [&](int32_t tok) { return std::find(probe->begin(), probe->end(), tok) != probe->end(); };
  if (probing)
    for (int32_t t : *probe) {
      const int64_t i = static_cast<int64_t>(t) - v0;
      c.probe_logits.push_back(i >= 0 && i < n && std::isfinite(logits[i]) ? logits[i] : Candidates::kNegInf);
    }
  c.mode = p.mode();
  c.temperature = c.mode == SamplingMode::greedy ? 1.0f : p.temperature;
  c.k = c.mode == SamplingMode::filtered ? (p.top_k > 0 ? std::min(p.top_k, K) : K) : std::clamp(n_top, 1, K);
  const bool keep_top = c.mode == SamplingMode::filtered || c.k > 1;
  const float T = c.temperature;
  const double inv_t = 1.0 / static_cast<double>(T);

  // Pass 1: max, argmax (ties: first, i.e. lowest id), and the mode's own selection.
  int32_t argmax = -1;
  float maxv = Candidates::kNegInf;
  std::vector<std::pair<int32_t, float>> heap;  // filtered: the k best so far, worst on top
  double best_key = -std::numeric_limits<double>::infinity();
  for (int32_t i = 0; i < n; ++i) {
    const float l = logits[i];
    if (!std::isfinite(l)) continue;
    const int32_t tok = v0 + i;
    if (argmax < 0 || l > maxv) {
      maxv = l;
      argmax = tok;
    }
    if (keep_top) {
      const std::pair<int32_t, float> e{tok, l};
      if (heap.size() < static_cast<size_t>(c.k)) {
        heap.push_back(e);
        std::push_heap(heap.begin(), heap.end(), better);
      } else if (better(e, heap.front())) {
        std::pop_heap(heap.begin(), heap.end(), better);
        heap.back() = e;
        std::push_heap(heap.begin(), heap.end(), better);
      }
    }
    if (c.mode == SamplingMode::gumbel) {
      const uint64_t h = rng::hash(p.seed, seq_stream, step_counter, static_cast<uint64_t>(tok));
      if (c.sample_token >= 0) {
        // Skip tokens that cannot win even with the largest noise their hash allows (the
        // margin covers l * inv_t vs l / T and the rounding of the exact key).
        const double bound = static_cast<double>(l) * inv_t + rng::gumbel_upper_bound(h);
        if (bound + 1e-9 * (1.0 + std::fabs(bound) + std::fabs(best_key)) < best_key) continue;
      }
      if (probing && is_probe(tok)) continue;  // the winner outside the probes
      const double key = scaled_logit(l, T) + rng::gumbel_from_hash(h);
      if (c.sample_token < 0 || key > best_key) {  // ties keep the lower id
        best_key = key;
        c.sample_token = tok;
        c.sample_logit = l;
      }
    }
  }
  if (argmax < 0) return c;  // no finite logit in the slice
  c.max_logit = maxv;
  c.sample_key = c.sample_token >= 0 ? best_key : c.sample_key;
  if (keep_top) {
    std::sort(heap.begin(), heap.end(), better);
    c.top = std::move(heap);
  } else {
    c.top = {{argmax, maxv}};
  }

  // Pass 2: log-sum-exp of logit / T (exact to a few ulps; it feeds probabilities and
  // logprobs, not the choice of a slice winner, so the faster l * inv_t form is fine).
  // A vocabulary of exp() per row: skipped when nothing reads it.
  if (!need_lse && c.mode != SamplingMode::filtered && !probing) {
    c.lse = Candidates::kLseNotComputed;
    return c;
  }
  const double m = static_cast<double>(maxv);
  double sum = 0.0;
  for (int32_t i = 0; i < n; ++i)
    if (std::isfinite(logits[i])) sum += std::exp((static_cast<double>(logits[i]) - m) * inv_t);
  c.lse = scaled_logit(maxv, T) + std::log(sum);
  return c;
}

}  // namespace shardlm
