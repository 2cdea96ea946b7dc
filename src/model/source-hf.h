// ModelSource over a Hugging Face directory (config.json + safetensors).
#pragma once
#include "shardlm/model/model-source.h"

namespace shardlm {
Result<std::unique_ptr<ModelSource>> open_hf_source(const std::string& dir);
}
