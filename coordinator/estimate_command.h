// `zerotune estimate --model DIR|--preset NAME [--deepspeed FILE] --num_gpus N [--json]
//                   [training arguments]`:
// the model-state bytes every data-parallel rank holds for each ZeRO stage (0, 1, 2 exact, as
// the engine allocates them; 3 planned, as DeepSpeed partitions it) and where each lives
// (sharding/zero/model_state_estimate.h). Reads DIR's config.json (configs/model_config.h) and
// resolves FILE as the launch would for N ranks and the training arguments (--use_lora,
// --q_lora, --lora_r, --lora_target_modules, --bf16, ... and the "auto" values); without
// --deepspeed, what train runs without one (stage 0). With --q_lora or an explicit
// --model_max_length, one micro-batch's activations and temporary buffers are counted too
// (--per_device_train_batch_size, --model_max_length, --gradient_checkpointing; sharding/
// activation_estimate.h). Prints a table
// per stage, or with --json one JSON object, on stdout and exits 0; otherwise prints
// "error: <flag or file>: <message>" lines on stderr and exits 1. Torch-free.
#pragma once

#include <iosfwd>
#include <string>

#include "CLI/App.hpp"
#include "configs/training_arguments.h"

namespace zt::coordinator {

struct EstimateRequest {
  std::string model;  // --model, else --model_name_or_path
  std::string preset;  // --preset: a known base model's config (estimate_presets.h) instead
  int64_t num_gpus = 1;
  bool json = false;
  configs::TrainingArguments args;  // --deepspeed names the ds_config
};

// The command's body; returns the exit code.
int RunEstimate(const EstimateRequest& request, std::ostream& out, std::ostream& err);

// Registers the subcommand on the `zerotune` app.
void AddEstimateCommand(CLI::App& app);

}  // namespace zt::coordinator
