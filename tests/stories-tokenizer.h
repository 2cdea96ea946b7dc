// Tests that need a real vocabulary: stories260K's llama2.c tokenizer from ../shared
// (SHARDLM_SHARED), or null when it is absent (the test then skips with a reason).
#pragma once
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "shardlm/tokenizer/tokenizer.h"

inline std::unique_ptr<shardlm::Tokenizer> stories_tokenizer() {
  const char* e = std::getenv("SHARDLM_SHARED");
  const std::string dir = e ? e : SHARDLM_SOURCE_DIR "/../shared";
  const std::string path = dir + "/models/stories260K/tok512.bin";
  if (!std::filesystem::exists(path)) return nullptr;
  auto t = shardlm::load_tokenizer(path);
  return t ? std::move(t.value()) : nullptr;
}
