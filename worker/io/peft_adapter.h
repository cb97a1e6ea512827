// PEFT LoRA adapter folders (peft PeftModel.save_pretrained / from_pretrained):
// adapter_config.json, written as PEFT does (json.dumps(indent=2, sort_keys=True), the key set
// of PEFT 0.21 with its defaults, inference_mode true) and adapter_model.safetensors with
// {"format": "pt"} and PEFT's names ("base_model.model.model.layers.0.self_attn.q_proj.
// lora_A.weight").
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/io/safetensors_file.h"

namespace zt::worker::io {

// The PEFT version whose adapter_config.json key set is written.
inline constexpr char kPeftFormatVersion[] = "0.21.2";

struct PeftLoraConfig {
  int64_t r = 8;
  double lora_alpha = 8.0;
  double lora_dropout = 0.0;
  bool use_rslora = false;
  // A sorted list of module names or a regex string, as PEFT stores it.
  nlohmann::json target_modules = nlohmann::json::array();
  std::string bias = "none";
  std::string task_type = "CAUSAL_LM";
  std::string base_model_name_or_path;
  bool init_lora_weights = true;
};

// The JSON object PEFT would write for `config`.
nlohmann::json PeftConfigJson(const PeftLoraConfig& config);

// Parses adapter_config.json content. Requires peft_type "LORA", r, lora_alpha, target_modules;
// Unimplemented naming the key for features this trainer does not compute (use_dora, lora_bias,
// fan_in_fan_out, non-empty rank_pattern/alpha_pattern, modules_to_save, layers_to_transform,
// bias other than "none", trainable_token_indices); unknown keys are ignored, as PEFT does.
absl::StatusOr<PeftLoraConfig> ParsePeftConfig(const nlohmann::json& json,
                                               const std::string& source);

struct PeftAdapter {
  PeftLoraConfig config;
  std::shared_ptr<SafetensorsFile> tensors;  // adapter_model.safetensors
};

// Reads `dir`/adapter_config.json and `dir`/adapter_model.safetensors. NotFound naming the file
// (with a hint when only adapter_model.bin exists: pickled adapters are not read).
absl::StatusOr<PeftAdapter> ReadPeftAdapter(const std::string& dir);

// Creates `dir` if needed and writes both files. `tensors` carry PEFT's names.
absl::Status WritePeftAdapter(const std::string& dir, const PeftLoraConfig& config,
                              const NamedTensors& tensors);

}  // namespace zt::worker::io
