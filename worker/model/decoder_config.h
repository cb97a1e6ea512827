// The architecture numbers of a Qwen2 / Qwen2.5 / Qwen3 / Llama decoder, as the decoder needs
// them (filled from an HF config.json by the configs/ reader, or by init-model presets).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "configs/model_config.h"

namespace zt::worker::model {

enum class Architecture { kQwen2, kQwen3, kLlama };

// "qwen2" / "qwen3" / "llama".
const char* ArchitectureName(Architecture arch);

struct DecoderConfig {
  Architecture arch = Architecture::kQwen2;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;  // Qwen2/Llama: hidden_size / num_heads; Qwen3: explicit
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Qwen2: true; Qwen3/Llama: attention_bias (false in released models)
  bool qk_norm = false;   // Qwen3: per-head RMSNorm on q and k

  // InvalidArgument naming the field and value when a size is non-positive or the heads do not
  // divide (num_heads % num_kv_heads).
  absl::Status Validate() const;
  // Parameters of the model as stored (embedding counted once when tied).
  int64_t ParameterCount() const;
};

// From a parsed config.json. Unimplemented, naming the key, for what this decoder does not
// compute: rope scaling other than "default", Llama's attention/MLP output biases.
absl::StatusOr<DecoderConfig> DecoderConfigFromModelConfig(const configs::ModelConfig& model,
                                                           const std::string& source);
// Reads `dir`/config.json (configs::LoadModelConfig) and converts it.
absl::StatusOr<DecoderConfig> LoadDecoderConfig(const std::string& dir);

}  // namespace zt::worker::model
