// The model a training job updates: the base model folder loaded in the compute dtype, LoRA
// adapters injected with PEFT's semantics (--use_lora) or every parameter trainable (full
// fine-tuning), and the ZeRO engine's parameter groups, HF Trainer-style: biases and norm
// weights without weight decay, everything else (LoRA A/B included) with it
// (sharding/zero_engine.h DecayParameterGroups).
//
// Dtypes: the base in the compute dtype (bf16 / fp16 / fp32); adapters in the compute dtype too,
// as DeepSpeed casts the whole module (the engine keeps the fp32 master of what trains).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "configs/training_arguments.h"
#include "sharding/zero_engine.h"
#include "worker/model/decoder.h"
#include "worker/model/lora_model.h"

namespace zt::worker::train {

struct TrainableModel {
  std::unique_ptr<model::Decoder> decoder;
  bool use_lora = false;
  model::LoraOptions lora;             // meaningful with use_lora
  model::ParameterSummary summary;     // PEFT's trainable-params line
  std::vector<sharding::ParameterGroup> groups;  // [decay, no decay], forward order, non-empty
};

// The compute dtype the arguments ask for: bf16, fp16 or fp32.
at::ScalarType ComputeDtype(const configs::TrainingArguments& args);

// InvalidArgument / NotFound naming --model_name_or_path unless it is a folder.
absl::Status CheckModelFolder(const configs::TrainingArguments& args);

// Loads --model_name_or_path (NotFound / InvalidArgument naming the folder and file), injects
// LoRA (seeded by --seed, as PEFT under transformers' set_seed) or makes everything trainable,
// and forms the groups with --weight_decay for the decay group. The base comes in the compute
// dtype, or with `keep_file_dtype` as the files hold it (mapped, not copied: ZeRO-3 casts each
// rank's pieces while partitioning); adapters always in the compute dtype.
absl::StatusOr<TrainableModel> LoadTrainableModel(const configs::TrainingArguments& args,
                                                  bool keep_file_dtype = false);

}  // namespace zt::worker::train
