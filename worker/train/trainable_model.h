// The model a training job updates: the base model folder loaded in the compute dtype, LoRA
// adapters injected with PEFT's semantics (--use_lora) or every parameter trainable (full
// fine-tuning), and the ZeRO engine's parameter groups, HF Trainer-style: biases and norm
// weights without weight decay, everything else (LoRA A/B included) with it
// (sharding/zero/zero_engine.h DecayParameterGroups).
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
#include "sharding/zero/zero_engine.h"
#include "worker/io/peft_adapter.h"
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
// LoRA (seeded by --seed, as PEFT under transformers' set_seed) or, with
// --adapter_name_or_path, attaches that adapter to train on (below), or makes everything
// trainable, and forms the groups with --weight_decay for the decay group. The base comes in
// the compute dtype, or with `keep_file_dtype` as the files hold it (mapped, not copied: ZeRO-3
// casts each rank's pieces while partitioning); adapters always in the compute dtype (the
// engine's precision). With --q_lora (qlora_options.h) every decoder-layer linear gets a frozen
// 4-bit base, quantized while loading or read packed from a pre-quantized folder, and the rest
// loads in the compute dtype (fp32 with --kbit_upcast fp32); not with `keep_file_dtype`.
//
// `device`: where the model trains. The files are mapped, each tensor goes to the device as
// it is moved (one at a time, never a whole host copy) before the adapters are made, so every
// trainable tensor is a leaf there. With `keep_file_dtype` (ZeRO-3) the model stays mapped on
// the host: the partitioning puts each rank's pieces on the device.
absl::StatusOr<TrainableModel> LoadTrainableModel(const configs::TrainingArguments& args,
                                                  bool keep_file_dtype = false,
                                                  const at::Device& device = at::kCPU);

// --adapter_name_or_path DIR, as PEFT's PeftModel.from_pretrained(base, DIR, is_trainable=True):
// DIR/adapter_config.json sets r, lora_alpha, lora_dropout, use_rslora and target_modules (bias
// "none" only; modules_to_save, DoRA and the other features io::ParsePeftConfig names are
// refused with an Unimplemented status naming them), DIR/adapter_model.safetensors the starting
// weights. NotFound naming the flag
// and the missing folder or file.
absl::StatusOr<io::PeftAdapter> ReadAdapterToTrain(const configs::TrainingArguments& args);

// The LoRA options `adapter`'s config sets (the dtype left to the caller). A flag the user set
// explicitly that contradicts it (--lora_r, --lora_alpha, --lora_dropout, --lora_bias) is
// InvalidArgument naming the flag with its value and the adapter_config.json key with its value.
absl::StatusOr<model::LoraOptions> LoraOptionsFromAdapter(const configs::TrainingArguments& args,
                                                          const io::PeftAdapter& adapter);

// Attaches `adapter` to `decoder` to train it: its target_modules must match the model's
// linears (as PEFT checks), an explicit --lora_target_modules must select the same modules
// (InvalidArgument naming the flag, the key, both values and a module only one selects), and
// the weights must be exactly the selected modules' lora_A / lora_B with their shapes
// (model::AttachPeftAdapter, model::CheckAdapterMatchesTargets).
absl::Status AttachAdapterToTrain(model::Decoder& decoder, const configs::TrainingArguments& args,
                                  const io::PeftAdapter& adapter, const model::LoraOptions& lora);

}  // namespace zt::worker::train
