// Rank 0's side of constrained output (grammar/): the vocabulary's token trie, one
// MaskComputer per distinct grammar (its mask cache shared by every request with the
// same schema), each constrained request's GrammarState, and the distribution of mask
// times. The engine asks for the mask of each constrained row before a step (it travels
// in the step, protocol/step-msg.h RowMask) and advances the state by each sampled token.
//
// Thread safety: engine thread only (like every LiveRequest).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "shardlm/grammar/token-mask.h"

namespace shardlm {

class Tokenizer;

// What /admin/status shows of constrained decoding (EngineSnapshot::grammar).
struct GrammarStats {
  uint64_t requests = 0;             // constrained requests started
  uint64_t masks = 0;                // masks computed for rows (cache hits included)
  uint64_t cache_hits = 0, cache_misses = 0;
  double mask_p50_ms = 0, mask_p99_ms = 0, mask_max_ms = 0;  // time of one mask, as the step thread paid it
};

struct GrammarHostOptions {
  size_t max_grammars = 64;  // distinct grammars whose mask caches are kept (idle ones are dropped when full)
  grammar::MaskCacheOptions cache;
};

// One constrained request's grammar: its state and the computer of its grammar.
struct RequestGrammar {
  std::shared_ptr<grammar::MaskComputer> masker;
  grammar::GrammarState state;
};

class GrammarHost {
 public:
  explicit GrammarHost(GrammarHostOptions opts = {});
  ~GrammarHost();

  // A constrained request starts. key: the grammar's canonical source (equal keys =
  // equal grammars: the first one compiled serves them all). tok: the loaded model's
  // tokenizer (a different one than the last call's rebuilds the trie and drops the caches).
  RequestGrammar start(const std::shared_ptr<const grammar::Grammar>& g, const std::string& key,
                       const std::shared_ptr<const Tokenizer>& tok);
  // The allowed tokens after the request's output so far (timed). The reference lives
  // until the next call.
  const grammar::TokenMask& mask(RequestGrammar& r);
  // Advances the state by a sampled token; false (state unchanged) if the grammar does not allow it.
  bool accept(RequestGrammar& r, int32_t token) const;
  GrammarStats stats() const;

 private:
  struct Entry {
    std::shared_ptr<const grammar::Grammar> grammar;
    std::shared_ptr<grammar::MaskComputer> masker;
  };
  void note_time(double seconds);

  GrammarHostOptions opts_;
  const Tokenizer* tok_ = nullptr;  // the tokenizer the trie was built from
  std::shared_ptr<const Tokenizer> tok_ref_;
  std::shared_ptr<const grammar::TokenTrie> trie_;
  std::unordered_map<std::string, Entry> grammars_;
  // Mask times: 1 µs buckets up to 4 ms, then one overflow bucket; exact maximum.
  static constexpr size_t kBuckets = 4001;
  std::array<uint64_t, kBuckets> hist_{};
  double max_s_ = 0;
  uint64_t requests_ = 0, masks_ = 0;
};

}  // namespace shardlm
