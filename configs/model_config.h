// An HF model config.json for the decoder families zerotune trains: model_type "qwen2"
// (Qwen2 / Qwen2.5), "qwen3" and "llama" (Llama 2/3). Both transformers 4.x spellings
// (rope_theta + rope_scaling, torch_dtype) and 5.x ones (rope_parameters, dtype) are read. A key
// that is absent takes the default of the model type's transformers configuration class, as
// from_pretrained does (e.g. num_key_value_heads = num_attention_heads, head_dim =
// hidden_size / num_attention_heads except for qwen3).
//
// Rejected with a message naming the value: model_type "qwen" (Qwen-1) and GPTQ/AWQ (any
// quantization_config.quant_method except "bitsandbytes"), both pointing to a 16-bit Qwen2.5
// checkpoint with --q_lora; any other model_type, rope type or hidden_act, listing the supported
// ones; shapes that do not divide (hidden_size % heads without head_dim, heads % kv heads).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace zt::configs {

struct RopeScaling {
  std::string rope_type = "default";  // default, linear, dynamic, yarn, llama3
  double factor = 1.0;
  std::optional<int64_t> original_max_position_embeddings;
  std::optional<double> attention_factor;  // yarn
  double beta_fast = 32.0;                 // yarn
  double beta_slow = 1.0;                  // yarn
  double low_freq_factor = 1.0;            // llama3
  double high_freq_factor = 4.0;           // llama3
};

// bitsandbytes quantization_config of a pre-quantized 4-bit checkpoint.
struct BnbQuantization {
  bool load_in_4bit = false;
  bool load_in_8bit = false;
  std::string bnb_4bit_quant_type = "fp4";
  bool bnb_4bit_use_double_quant = false;
  std::string bnb_4bit_compute_dtype = "float32";
};

struct ModelConfig {
  std::string model_type;  // qwen2, qwen3, llama
  std::vector<std::string> architectures;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  std::string hidden_act = "silu";
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;     // q/k/v projections carry a bias (qwen2 always; others attention_bias)
  bool o_proj_bias = false;  // llama attention_bias
  bool mlp_bias = false;     // llama mlp_bias
  bool qk_norm = false;      // per-head RMSNorm on q and k (qwen3)
  double attention_dropout = 0.0;
  double initializer_range = 0.02;
  std::string dtype;  // "bfloat16", "float16", "float32" or "" when unset
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;  // one or several
  std::optional<int64_t> pad_token_id;
  bool use_sliding_window = false;
  std::optional<int64_t> sliding_window;
  int64_t max_window_layers = 0;
  std::optional<BnbQuantization> quantization;  // a bitsandbytes pre-quantized checkpoint
};

// Parses a config.json object. InvalidArgument "<source>: <key>: <what>, expected <what>".
absl::StatusOr<ModelConfig> ParseModelConfig(const nlohmann::json& json, absl::string_view source);

// Reads `path`: a config.json file or a model folder containing one.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

}  // namespace zt::configs
