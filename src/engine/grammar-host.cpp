// Rank 0's grammar states and mask computers (engine/grammar-host.h).
#include "shardlm/engine/grammar-host.h"

#include <algorithm>
#include <chrono>

#include "shardlm/core/log.h"
#include "shardlm/tokenizer/tokenizer.h"

namespace shardlm {

GrammarHost::GrammarHost(GrammarHostOptions opts) : opts_(opts) {}
GrammarHost::~GrammarHost() = default;

RequestGrammar GrammarHost::start(const std::shared_ptr<const grammar::Grammar>& g, const std::string& key,
                                  const std::shared_ptr<const Tokenizer>& tok) {
  if (tok.get() != tok_) {
    const auto t0 = std::chrono::steady_clock::now();
    trie_ = grammar::TokenTrie::build(*tok);
    tok_ = tok.get();
    tok_ref_ = tok;
    grammars_.clear();
    LOG_INFO("grammar: token trie of {} tokens built in {:.1f} ms", trie_->n_vocab(),
             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  ++requests_;
  auto it = grammars_.find(key);
  if (it == grammars_.end()) {
    if (grammars_.size() >= opts_.max_grammars)  // drop the idle ones (no request holds their computer)
      for (auto i = grammars_.begin(); i != grammars_.end();)
        i = i->second.masker.use_count() == 1 ? grammars_.erase(i) : std::next(i);
    it = grammars_.emplace(key, Entry{g, std::make_shared<grammar::MaskComputer>(trie_, opts_.cache)}).first;
  }
  return RequestGrammar{it->second.masker, grammar::GrammarState(it->second.grammar)};
}

const grammar::TokenMask& GrammarHost::mask(RequestGrammar& r) {
  const auto t0 = std::chrono::steady_clock::now();
  const grammar::TokenMask& m = r.masker->mask(r.state);
  note_time(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return m;
}

bool GrammarHost::accept(RequestGrammar& r, int32_t token) const { return r.masker->accept(r.state, token); }

void GrammarHost::note_time(double s) {
  ++masks_;
  max_s_ = std::max(max_s_, s);
  const auto us = static_cast<size_t>(s * 1e6);
  ++hist_[std::min(us, kBuckets - 1)];
}

GrammarStats GrammarHost::stats() const {
  GrammarStats st;
  st.requests = requests_;
  st.masks = masks_;
  for (const auto& [k, e] : grammars_) {
    st.cache_hits += e.masker->hits();
    st.cache_misses += e.masker->misses();
  }
  st.mask_max_ms = max_s_ * 1e3;
  if (masks_ == 0) return st;
  // Quantile q: the upper edge of the bucket holding the ceil(q × n)-th time (1 µs resolution).
  auto quantile = [&](double q) {
    const auto want = static_cast<uint64_t>(std::max(1.0, q * static_cast<double>(masks_) + 0.999999));
    uint64_t seen = 0;
    for (size_t b = 0; b < kBuckets; ++b) {
      seen += hist_[b];
      if (seen >= want) return b + 1 == kBuckets ? max_s_ * 1e3 : static_cast<double>(b + 1) * 1e-3;
    }
    return max_s_ * 1e3;
  };
  st.mask_p50_ms = quantile(0.5);
  st.mask_p99_ms = quantile(0.99);
  return st;
}

}  // namespace shardlm
