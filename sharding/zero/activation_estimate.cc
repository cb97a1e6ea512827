#include "sharding/zero/activation_estimate.h"

#include <algorithm>

namespace zt::sharding {

int64_t LayerActivationBytesPerToken(const configs::ModelConfig& m, const ActivationSetup& s) {
  const int64_t c = s.compute_bytes, h = m.hidden_size, i = m.intermediate_size;
  const int64_t q = m.num_attention_heads * m.head_dim;
  const int64_t kv = m.num_key_value_heads * m.head_dim;
  int64_t bytes = 2 * (4 + c) * h;  // input and post-attention RMSNorms
  bytes += 2 * c * (q + 2 * kv);    // q/k/v outputs and their rotated copies
  if (m.qk_norm) bytes += (4 + c) * (q + kv);
  bytes += 4 * c * q;  // SDPA: q, k and v expanded to every head, output
  bytes += 4 * c * i;  // gate, up, silu(gate), silu(gate)·up
  bytes += s.adapted_per_layer * c * s.lora_r;
  if (s.lora_dropout) bytes += 2 * c * s.adapted_in_features;  // mask and dropped input
  return bytes;
}

ActivationEstimate EstimateActivations(const configs::ModelConfig& m, const ActivationSetup& s) {
  const int64_t tokens = s.micro_batch * s.seq_len;
  const int64_t c = s.compute_bytes, h = m.hidden_size, i = m.intermediate_size;
  const int64_t layer = LayerActivationBytesPerToken(m, s) * tokens;
  ActivationEstimate e;
  if (s.gradient_checkpointing) {
    e.layer_checkpoints = m.num_hidden_layers * tokens * h * c;
    e.recomputed_layer = layer;
  } else {
    e.layer_checkpoints = m.num_hidden_layers * layer;
  }
  const int64_t rows =
      std::max<int64_t>(1, std::min<int64_t>(tokens, s.loss_chunk_bytes / (4 * m.vocab_size)));
  e.loss = rows * m.vocab_size * (2 * 4 + c) + tokens * h * c;
  e.backward_gradients = tokens * c * (2 * h + 2 * i);
  if (s.q_lora) {
    const int64_t q = m.num_attention_heads * m.head_dim;
    e.dequantized_weight = std::max({h * q, h * i}) * c;
  }
  return e;
}

}  // namespace zt::sharding
