// `shardlm quantize IN OUT --type TYPE`: the command-line face of quantize_model()
// (include/shardlm/model/model-quantize.h). Runs on the main thread, no MPI.
#include "app/app.h"
#include "shardlm/core/log.h"
#include "shardlm/model/model-quantize.h"

namespace shardlm {

int cmd_quantize(const QuantizeConfig& cfg) {
  const Status st = quantize_model(cfg);
  if (!st) {
    LOG_ERROR("{}", st.message());
    return 1;
  }
  return 0;
}

}  // namespace shardlm
