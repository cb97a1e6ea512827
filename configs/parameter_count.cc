#include "configs/parameter_count.h"

#include <string>

namespace zt::configs {
namespace {

struct Linear {
  const char* name;
  int64_t in;
  int64_t out;
};

}  // namespace

ParameterCounts CountParameters(const ModelConfig& c) {
  ParameterCounts p;
  const int64_t h = c.hidden_size, d = c.head_dim;
  const int64_t q_out = c.num_attention_heads * d, kv_out = c.num_key_value_heads * d;
  p.embedding = c.vocab_size * h;
  p.lm_head = c.tie_word_embeddings ? 0 : c.vocab_size * h;
  const int64_t linear_per_layer =
      h * q_out + 2 * h * kv_out + q_out * h + 3 * h * c.intermediate_size;
  int64_t other_per_layer = 2 * h;  // input_layernorm, post_attention_layernorm
  if (c.qkv_bias) other_per_layer += q_out + 2 * kv_out;
  if (c.o_proj_bias) other_per_layer += h;
  if (c.mlp_bias) other_per_layer += 2 * c.intermediate_size + h;
  if (c.qk_norm) other_per_layer += 2 * d;
  p.decoder_linear = linear_per_layer * c.num_hidden_layers;
  p.other = other_per_layer * c.num_hidden_layers + h;  // + final norm
  p.total = p.embedding + p.lm_head + p.decoder_linear + p.other;
  return p;
}

int64_t CountLoraParameters(const ModelConfig& c, int64_t r, const LoraTargetModules& targets) {
  const int64_t h = c.hidden_size, d = c.head_dim, i = c.intermediate_size;
  const Linear layer[] = {{"self_attn.q_proj", h, c.num_attention_heads * d},
                          {"self_attn.k_proj", h, c.num_key_value_heads * d},
                          {"self_attn.v_proj", h, c.num_key_value_heads * d},
                          {"self_attn.o_proj", c.num_attention_heads * d, h},
                          {"mlp.gate_proj", h, i},
                          {"mlp.up_proj", h, i},
                          {"mlp.down_proj", i, h}};
  int64_t total = 0;
  for (int64_t n = 0; n < c.num_hidden_layers; ++n) {
    const std::string prefix = "model.layers." + std::to_string(n) + ".";
    for (const Linear& l : layer) {
      if (targets.Matches(prefix + l.name, true)) total += r * (l.in + l.out);
    }
  }
  if (targets.kind != LoraTargetModules::Kind::kAllLinear && targets.Matches("lm_head", true)) {
    total += r * (h + c.vocab_size);
  }
  return total;
}

}  // namespace zt::configs
