// ModelSource over a llama2.c checkpoint (.bin) with its tokenizer.bin.
#pragma once
#include "shardlm/model/model-source.h"

namespace shardlm {
Result<std::unique_ptr<ModelSource>> open_llama2c_source(const std::string& path, const std::string& tokenizer_path);
}
