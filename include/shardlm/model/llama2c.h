// llama2.c checkpoint reader (the legacy "version 0" export of karpathy/llama2.c).
//
// File grammar (little-endian, no padding):
//   7 × i32: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//     (vocab_size < 0: the classifier wcls is stored separately at the end;
//      vocab_size > 0: the classifier is shared with the token embedding)
//   then f32 arrays, row-major, in this order (kv_dim = dim · n_kv_heads / n_heads,
//   head_size = dim / n_heads):
//     token_embedding [vocab, dim]       rms_att   [L, dim]
//     wq [L, dim, dim]   wk [L, kv_dim, dim]   wv [L, kv_dim, dim]   wo [L, dim, dim]
//     rms_ffn [L, dim]
//     w1 [L, hidden, dim]   w2 [L, dim, hidden]   w3 [L, hidden, dim]
//     rms_final [dim]
//     freq_cis_real [seq_len, head_size/2]   freq_cis_imag [seq_len, head_size/2]
//     (unused: RoPE is recomputed with theta 10000)
//     [wcls [vocab, dim]]   only when vocab_size < 0
// The file size must equal what the header implies exactly; a shorter file is
// reported as truncated, a longer one as not a legacy checkpoint (both with the
// expected and actual sizes). The newer "ak42"-magic exports are refused by name.
//
// Tensors are exposed as F32 RawTensors under GGUF names (per-layer slices of the
// stacked arrays): token_embd.weight, blk.N.{attn_norm, attn_q, attn_k, attn_v,
// attn_output, ffn_norm, ffn_gate (w1), ffn_down (w2), ffn_up (w3)}.weight,
// output_norm.weight, and output.weight only when wcls is stored.
//
// RoPE layout: llama2.c trains with rotary pairs of adjacent elements (2i, 2i+1) of
// each head, and stores Q/K as trained, unpermuted. That is exactly the layout of
// GGUF arch "llama" (llama.cpp's rope "normal" mode): these tensors are used like
// the GGUF's, with no permutation (stories260K.bin and .gguf hold identical bytes).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shardlm/core/mmap.h"
#include "shardlm/core/status.h"
#include "shardlm/model/tensor-source.h"

namespace shardlm {

struct Llama2cHeader {
  int32_t dim = 0;         // n_embd
  int32_t hidden_dim = 0;  // n_ff
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t vocab_size = 0;  // absolute value of the stored field
  int32_t seq_len = 0;     // training context length
  bool shared_classifier = true;  // stored vocab_size > 0: output = token embedding

  int32_t head_size() const { return dim / n_heads; }
  int32_t kv_dim() const { return dim / n_heads * n_kv_heads; }
};

class Llama2cFile {
 public:
  static Result<std::unique_ptr<Llama2cFile>> open(const std::string& path);
  // Parse bytes that the caller keeps alive (tests, fuzzing). name is used in errors.
  static Result<std::unique_ptr<Llama2cFile>> parse(const uint8_t* data, size_t size, const std::string& name);
  // Bytes a file with this header must have (header included); 0 on overflow.
  static uint64_t expected_size(const Llama2cHeader& h);

  const std::string& path() const { return path_; }
  const Llama2cHeader& header() const { return hdr_; }
  const std::vector<RawTensor>& tensors() const { return tensors_; }  // in file order
  const RawTensor* tensor(const std::string& name) const;
  const MappedFile* file() const { return file_.get(); }  // nullptr for parse()
  // Drop the pages of the tensor named t.name from RSS once copied.
  void release(const RawTensor& t) const;

 private:
  Llama2cFile() = default;
  std::shared_ptr<MappedFile> file_;
  std::string path_;
  Llama2cHeader hdr_;
  std::vector<RawTensor> tensors_;
  std::map<std::string, size_t> index_;
};

}  // namespace shardlm
