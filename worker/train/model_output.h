// What a finished (or checkpointed) job leaves for the user's other tools: with LoRA, the PEFT
// adapter (adapter_config.json + adapter_model.safetensors, fp32 tensors under PEFT's names,
// loadable by PeftModel.from_pretrained); with full fine-tuning, an HF model folder
// (config.json, safetensors, tokenizer files copied from the base). Files are written into a
// hidden sibling folder, fsynced and renamed into `dir` one by one, so a reader never sees a
// half-written file. Rank 0 calls it; the trainable tensors must be up to date (after Step).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "configs/training_arguments.h"
#include "worker/train/trainable_model.h"

namespace zt::worker::train {

absl::Status WriteTrainedModel(const std::string& dir, TrainableModel& model,
                               const configs::TrainingArguments& args);

}  // namespace zt::worker::train
