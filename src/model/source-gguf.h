// ModelSource over a GGUF file.
#pragma once
#include "shardlm/model/model-source.h"

namespace shardlm {
Result<std::unique_ptr<ModelSource>> open_gguf_source(const std::string& path);
}
