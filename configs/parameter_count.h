// Parameter counts of a decoder computed from its config.json alone (no weights), matching what
// transformers instantiates: embeddings V*h; per layer q/k/v/o projections (with qwen2's q/k/v
// biases, llama's optional attention/MLP biases), gate/up/down projections, two RMSNorms
// (+ qwen3's q/k norms of head_dim each); the final norm; lm_head V*h unless tied.
#pragma once

#include <cstdint>

#include "configs/lora_target_modules.h"
#include "configs/model_config.h"

namespace zt::configs {

struct ParameterCounts {
  int64_t total = 0;             // as model.num_parameters() (tied lm_head counted once)
  int64_t embedding = 0;         // embed_tokens
  int64_t lm_head = 0;           // 0 when tied
  int64_t decoder_linear = 0;    // weights of the decoder layers' nn.Linear (what 4-bit quantizes)
  int64_t other = 0;             // norms and biases (kept in the compute dtype)
};

ParameterCounts CountParameters(const ModelConfig& config);

// Trainable LoRA parameters, r * (in + out) per adapted linear, over the decoder layers'
// projections (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj) and lm_head when
// the targets name it explicitly.
int64_t CountLoraParameters(const ModelConfig& config, int64_t r, const LoraTargetModules& targets);

}  // namespace zt::configs
