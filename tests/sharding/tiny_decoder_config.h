// The tiny Qwen2 decoder shape the ZeRO decoder tests train (stages 0-3): 2 layers of width 32
// over a 64-token vocabulary, with q/k/v biases, tied or untied embeddings.
#pragma once

#include "worker/model/decoder_config.h"

namespace zt::sharding::testing {

inline worker::model::DecoderConfig TinyQwen2(bool tied = true) {
  worker::model::DecoderConfig c;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.tie_word_embeddings = tied;
  c.qkv_bias = true;
  return c;
}

}  // namespace zt::sharding::testing
