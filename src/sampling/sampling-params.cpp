#include "shardlm/sampling/sampling-params.h"

#include <cmath>

namespace shardlm {

Status SamplingParams::validate() const {
  if (!std::isfinite(temperature) || temperature < 0.0f)
    return Status::errorf("temperature must be a finite number >= 0 (0 = greedy), got {}", temperature);
  if (top_k < 0) return Status::errorf("top_k must be >= 0 (0 = off), got {}", top_k);
  if (!(top_p >= 0.0f && top_p <= 1.0f))  // also rejects NaN
    return Status::errorf("top_p must be in [0, 1] (1 = off), got {}", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f))
    return Status::errorf("min_p must be in [0, 1] (0 = off), got {}", min_p);
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0.0f)
    return Status::errorf("repetition_penalty must be a finite number > 0 (1 = off), got {}", repetition_penalty);
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    return Status::errorf("presence_penalty must be in [-2, 2] (0 = off), got {}", presence_penalty);
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    return Status::errorf("frequency_penalty must be in [-2, 2] (0 = off), got {}", frequency_penalty);
  return Status::ok();
}

}  // namespace shardlm
