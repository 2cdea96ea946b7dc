#include "shardlm/model/hparams.h"

#include <cmath>

#include <fmt/format.h>

namespace shardlm {

std::string HParams::summary() const {
  return fmt::format(
      "arch={} vocab={} embd={} layers={} heads={} kv_heads={} head_dim={} ff={} eps={} theta={} rope={} "
      "qkv_bias={} qk_norm={} tied={}{}",
      arch, n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, norm_eps, rope_theta,
      rope_layout == RopeLayout::Adjacent ? "adjacent" : "halves", qkv_bias, qk_norm, tied_embeddings,
      rope_freq_factors.empty() ? "" : " rope_scaling=llama3");
}

std::vector<float> llama3_rope_factors(int rope_dim, float theta, float factor, float low_freq_factor,
                                       float high_freq_factor, int original_context) {
  std::vector<float> out(rope_dim / 2);
  const double low_wavelen = original_context / low_freq_factor;
  const double high_wavelen = original_context / high_freq_factor;
  for (int i = 0; i < rope_dim / 2; ++i) {
    double freq = 1.0 / std::pow(static_cast<double>(theta), 2.0 * i / rope_dim);
    double wavelen = 2.0 * M_PI / freq;
    double f;
    if (wavelen < high_wavelen) {
      f = 1.0;
    } else if (wavelen > low_wavelen) {
      f = factor;
    } else {
      double smooth = (original_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      f = 1.0 / ((1.0 - smooth) / factor + smooth);
    }
    out[i] = static_cast<float>(f);
  }
  return out;
}

RopeParams rope_params(const HParams& h) {
  return RopeParams::make(h.head_dim, h.rope_dim, h.rope_layout, h.rope_theta, h.rope_freq_factors, h.rope_linear_factor);
}

}  // namespace shardlm
