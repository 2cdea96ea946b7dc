// The schema compiler (internal to grammar/): JSON schema -> Grammar nodes. Types,
// objects, arrays, enums and anyOf/oneOf in schema-compile.cpp; $ref, allOf and the
// check that no reference cycle consumes nothing in schema-refs.cpp.
#pragma once
#include <map>
#include <set>
#include <string>

#include "grammar/grammar-nodes.h"

namespace shardlm::grammar {

using nlohmann::json;

// Keywords that never constrain (annotations, and definitions compiled only where referred to).
extern const std::set<std::string> kIgnored;

class Compiler {
 public:
  explicit Compiler(const json& root) : root_(root) {}
  Grammar g;

  uint32_t add(Node n) { g.nodes.push_back(std::move(n)); return static_cast<uint32_t>(g.nodes.size() - 1); }
  uint32_t new_trie() { g.tries.emplace_back(); return static_cast<uint32_t>(g.tries.size() - 1); }
  void trie_insert(uint32_t root, const std::string& text, int32_t id, uint64_t bit);
  uint32_t literal(const std::vector<std::string>& texts);
  uint32_t any_value();
  uint32_t any_index() const { return any_ == kNoNode ? 0 : any_; }

  Result<uint32_t> node(const json& s, const std::string& at);
  // schema-refs.cpp
  Result<uint32_t> ref(const json& s, const std::string& at);
  Result<uint32_t> all_of(const json& s, const std::string& at);
  Status check_cycles() const;  // an anyOf/$ref loop that reads no byte: an error

  static std::string where(const std::string& at) { return at.empty() ? "/" : at; }

 private:
  Result<uint32_t> typed(const json& s, const std::string& t, const std::string& at);
  Result<uint32_t> object(const json& s, const std::string& at);
  Status object_properties(const json& s, uint32_t id, const std::string& at);
  Result<uint32_t> array(const json& s, const std::string& at);
  Result<uint32_t> string_schema(const json& s, const std::string& at);
  Result<uint32_t> integer_schema(const json& s, const std::string& at);
  Result<uint32_t> any_of(const json& s, const char* key, const std::string& at);
  Result<uint32_t> enum_node(const json& s, const std::string& at);
  Result<uint32_t> add_pattern(const std::string& source, const std::string& what, const std::string& at);
  // The JSON a local "$ref" names (nullptr: points nowhere); errors for remote refs.
  Result<const json*> resolve(const std::string& ref, const std::string& at) const;

  const json& root_;
  uint32_t any_ = kNoNode;
  std::map<std::string, uint32_t> refs_;      // JSON pointer -> node (compiled once: cycles allowed)
  std::map<std::string, uint32_t> patterns_;  // pattern source -> Grammar::patterns index
  std::map<uint32_t, std::string> ref_at_;    // placeholder node -> its "$ref" place, for errors
};

}  // namespace shardlm::grammar
