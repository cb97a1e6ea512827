// What --q_lora loads: the 4-bit options for the decoder's linears (model::Load4bitOptions)
// and the dtype of the parameters left unquantized, from the QLoRA flags (transformers'
// BitsAndBytesConfig names) and, for a pre-quantized folder, its config.json
// quantization_config, which wins: an explicit flag that contradicts it is an error.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "absl/status/statusor.h"
#include "configs/model_config.h"
#include "configs/training_arguments.h"
#include "worker/model/decoder_4bit_load.h"

namespace zt::worker::train {

struct QloraLoad {
  model::Load4bitOptions four_bit;
  // Embeddings, norms, biases and lm_head: the compute dtype (--bf16 / --fp16), or fp32 with
  // --kbit_upcast fp32 (PEFT's prepare_model_for_kbit_training).
  at::ScalarType unquantized_dtype = at::kFloat;
};

// nullopt without --q_lora. Without --q_lora a pre-quantized folder is FailedPrecondition
// (full fine-tuning and LoRA need the 16-bit weights). InvalidArgument naming the flag and
// config.json's key with both values for a contradiction; Unimplemented for an 8-bit folder.
// `model_dir` names the folder in messages.
absl::StatusOr<std::optional<QloraLoad>> ResolveQloraLoad(const configs::TrainingArguments& args,
                                                          const configs::ModelConfig& config,
                                                          const std::string& model_dir);

}  // namespace zt::worker::train
