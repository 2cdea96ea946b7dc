// `shardlm quantize IN OUT --type TYPE`: re-encode a model's weights into a GGUF file
// that llama.cpp reads too.
//
// IN: a GGUF (any type this build can dequantize), a Hugging Face directory (MLX
// quantized ones too: their weights are dequantized first) or a llama2.c checkpoint.
// OUT: GGUF v3, alignment 32. From a GGUF every metadata key is copied (tokenizer.*
// included; split.* dropped; general.file_type and general.quantization_version = 2
// set as llama-quantize does) and every tensor kept in file order. From HF/llama2.c the
// metadata is built from the hyperparameters and the tokenizer (as make-model does;
// the token list is padded with [PAD<id>] to the embedding's rows), tensors take
// their GGUF names and Q/K rows of the `llama` arch are permuted into the interleaved
// RoPE layout llama.cpp's converter writes.
//
// Which type each tensor gets (a simplified form of llama.cpp's llama_tensor_get_type):
//   - tensors that are not 2-D `*.weight` (norms, biases, rope_freqs) are F32;
//   - F32 / F16 / BF16 files: every 2-D weight in that type;
//   - quantized files, base type B (Q4_K for Q4_K_S/M, Q5_K for Q5_K_S/M):
//       output.weight (or token_embd.weight of a tied model): Q6_K unless B is Q8_0;
//         Q8_0 if the rows do not hold whole B blocks;
//       _M: attn_v.weight and ffn_down.weight get Q6_K in layers i where
//         i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2   (n = number of layers);
//       Q4_K_S: attn_v.weight in layers < 4 and ffn_down.weight in layers < n/8: Q5_K;
//       everything else (token_embd of an untied model included): B;
//   - rows whose width is not a multiple of the chosen type's block fall back:
//       Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0 (as llama.cpp), and then, or for any
//       other type, to F16 (llama.cpp refuses those; F16 fits every width).
//   - `pure`: every 2-D weight gets B (the fallback still applies).
// A tensor already in its target type is copied byte for byte.
//
// Memory: tensors stream one at a time, rows converted in chunks of at most ~32 MiB
// on a thread pool and written at once; the input's pages are released after each
// tensor. Progress: one log line per tensor (types, sizes, relative RMS error of the
// re-encoding). Runs on the calling thread (plus its own pool).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shardlm/core/dtype.h"
#include "shardlm/core/status.h"

namespace shardlm {

struct QuantizeConfig {
  std::string in;          // model source (GGUF file, HF directory, llama2.c .bin)
  std::string out;         // output .gguf (written as OUT.partial, renamed when complete)
  std::string type;        // a name from quant_file_types(), case-insensitive ("q4_k_m")
  std::string tokenizer;   // llama2.c only: tokenizer .bin ("" = beside the model)
  int threads = 0;         // conversion threads (0 = the machine's cores)
  bool pure = false;       // no per-tensor mixture: every 2-D weight in the base type
};

enum class QuantMix { None, Small, Medium };  // _S / _M rules

struct QuantFileType {
  const char* name;     // "Q4_K_M"
  DType base;           // Q4_K
  uint32_t ftype;       // general.file_type (llama_ftype): 15
  QuantMix mix;
};

// F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K.
const std::vector<QuantFileType>& quant_file_types();
// Case-insensitive; "Q4_K" and "Q5_K" mean the _M variants. nullptr if unknown.
const QuantFileType* find_quant_file_type(std::string_view name);

// The rule above for one tensor (shape row-major, outermost first).
DType quant_tensor_type(const QuantFileType& ft, const std::string& name, const std::vector<int64_t>& shape,
                        int n_layer, bool has_output, bool pure);

Status quantize_model(const QuantizeConfig& cfg);

}  // namespace shardlm
