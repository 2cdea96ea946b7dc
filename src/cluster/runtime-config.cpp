#include "shardlm/cluster/runtime-config.h"

#include <nlohmann/json.hpp>

#include "shardlm/kernels/kv-quant.h"

namespace shardlm {

std::string RuntimeConfig::to_json() const {
  nlohmann::json j = {{"model_path", model_path},
                      {"tokenizer_path", tokenizer_path},
                      {"threads", threads},
                      {"n_ctx", n_ctx},
                      {"kv_blocks", kv_blocks},
                      {"max_seqs", max_seqs},
                      {"block_size", block_size},
                      {"kv_cache_dtype", kv_cache_dtype},
                      {"weight_dtype", weight_dtype},
                      {"pack_weights", pack_weights},
                      {"batch_invariant", batch_invariant},
                      {"sample_candidates", sample_candidates},
                      {"eval_timeout_s", eval_timeout_s},
                      {"collective_timeout_s", collective_timeout_s},
                      {"collective_timeout_k", collective_timeout_k},
                      {"collective_timeout_floor_s", collective_timeout_floor_s},
                      {"load_timeout_floor_s", load_timeout_floor_s},
                      {"memory_guard_gb", memory_guard_gb},
                      {"kv_tier", kv_tier},
                      {"kv_disk_dir", kv_disk_dir},
                      {"kv_disk_gb", kv_disk_gb},
                      {"kv_disk_queue_blocks", kv_disk_queue_blocks},
                      {"log_level", log_level},
                      {"dump_logits_prefix", dump_logits_prefix},
                      {"load_delay_ms", load_delay_ms},
                      {"prefill_delay_ms", prefill_delay_ms},
                      {"decode_delay_ms", decode_delay_ms}};
  return j.dump();
}

Result<RuntimeConfig> RuntimeConfig::from_json(const std::string& s) {
  auto j = nlohmann::json::parse(s, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::error("runtime config: not a JSON object");
  RuntimeConfig c;
  try {
    c.model_path = j.value("model_path", c.model_path);
    c.tokenizer_path = j.value("tokenizer_path", c.tokenizer_path);
    c.threads = j.value("threads", c.threads);
    c.n_ctx = j.value("n_ctx", c.n_ctx);
    c.kv_blocks = j.value("kv_blocks", c.kv_blocks);
    c.max_seqs = j.value("max_seqs", c.max_seqs);
    c.block_size = j.value("block_size", c.block_size);
    c.kv_cache_dtype = j.value("kv_cache_dtype", c.kv_cache_dtype);
    c.weight_dtype = j.value("weight_dtype", c.weight_dtype);
    c.pack_weights = j.value("pack_weights", c.pack_weights);
    c.batch_invariant = j.value("batch_invariant", c.batch_invariant);
    c.sample_candidates = j.value("sample_candidates", c.sample_candidates);
    c.eval_timeout_s = j.value("eval_timeout_s", c.eval_timeout_s);
    c.collective_timeout_s = j.value("collective_timeout_s", c.collective_timeout_s);
    c.collective_timeout_k = j.value("collective_timeout_k", c.collective_timeout_k);
    c.collective_timeout_floor_s = j.value("collective_timeout_floor_s", c.collective_timeout_floor_s);
    c.load_timeout_floor_s = j.value("load_timeout_floor_s", c.load_timeout_floor_s);
    c.memory_guard_gb = j.value("memory_guard_gb", c.memory_guard_gb);
    c.kv_tier = j.value("kv_tier", c.kv_tier);
    c.kv_disk_dir = j.value("kv_disk_dir", c.kv_disk_dir);
    c.kv_disk_gb = j.value("kv_disk_gb", c.kv_disk_gb);
    c.kv_disk_queue_blocks = j.value("kv_disk_queue_blocks", c.kv_disk_queue_blocks);
    c.log_level = j.value("log_level", c.log_level);
    c.dump_logits_prefix = j.value("dump_logits_prefix", c.dump_logits_prefix);
    c.load_delay_ms = j.value("load_delay_ms", c.load_delay_ms);
    c.prefill_delay_ms = j.value("prefill_delay_ms", c.prefill_delay_ms);
    c.decode_delay_ms = j.value("decode_delay_ms", c.decode_delay_ms);
  } catch (const std::exception& e) {
    return Status::errorf("runtime config: {}", e.what());
  }
  if (c.block_size < 1 || c.block_size > 1024) return Status::error("runtime config: block_size out of range");
  if (DType t; !kv_dtype_from_name(c.kv_cache_dtype.c_str(), &t))
    return Status::errorf("runtime config: kv_cache_dtype '{}' is not f32, f16, bf16, fp8_e4m3 or int8", c.kv_cache_dtype);
  if (c.kv_tier != "off" && c.kv_tier != "cpu" && c.kv_tier != "cpu_disk")
    return Status::errorf("runtime config: kv_tier '{}' is not off, cpu or cpu_disk", c.kv_tier);
  if (c.kv_disk_gb < 0 || c.kv_disk_queue_blocks < 1) return Status::error("runtime config: kv_disk_gb or kv_disk_queue_blocks out of range");
  if (c.max_seqs < 1) return Status::error("runtime config: max_seqs must be >= 1");
  return c;
}

}  // namespace shardlm
