// The training arguments every zerotune CLI shares (`zerotune launch`, `zerotune estimate`,
// `zerotune validate-config`, `zerotune-worker train`), under the names users know from HF
// TrainingArguments and Qwen's finetune.py. Defaults are finetune.py's where it sets one
// (lora_r 64, lora_alpha 16, lora_dropout 0.05, model_max_length 8192, optim adamw_torch, its
// lora_target_modules list) and HF TrainingArguments' otherwise.
//
// The registry (TrainingArgumentSpecs) is the one list of names, types, defaults and help; CLI
// options (training_arguments_cli.h), --help and the JSON-object form of a job file are all
// generated from it. Every setter records the argument as explicitly set, so the ds_config
// resolution can tell a user's flag (checked against the ds_config) from a default. One
// argument implies another: a non-empty --adapter_name_or_path sets use_lora (not marked set)
// unless --use_lora was given, whichever comes first.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "configs/diagnostics.h"
#include "nlohmann/json.hpp"

namespace zt::configs {

struct TrainingArguments {
  // Model, data, output.
  std::string model_name_or_path;
  std::string data_path;
  std::string eval_data_path;
  std::string output_dir = "output";
  std::string deepspeed;  // ds_config path
  int64_t model_max_length = 8192;
  // Batch and schedule.
  int64_t per_device_train_batch_size = 8;
  int64_t per_device_eval_batch_size = 8;
  int64_t gradient_accumulation_steps = 1;
  double num_train_epochs = 3.0;
  int64_t max_steps = -1;
  double learning_rate = 5e-5;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;
  std::string optim = "adamw_torch";
  std::string lr_scheduler_type = "linear";
  double warmup_ratio = 0.0;
  double warmup_steps = 0;  // >= 1: steps; in (0, 1): a ratio (transformers 5.x)
  // "token" (HF transformers): the step's summed token losses / its non-ignored tokens over all
  // micro-batches and ranks; "per_micro_batch" (DeepSpeed): each micro-batch's mean / GAS.
  std::string loss_normalization = "token";
  // Precision and memory.
  bool bf16 = false;
  bool fp16 = false;
  bool gradient_checkpointing = false;
  // Placement: the CPU even when CUDA devices are visible (HF's use_cpu); else cuda:LOCAL_RANK.
  bool use_cpu = false;
  // LoRA / QLoRA.
  bool use_lora = false;
  bool q_lora = false;
  // QLoRA's BitsAndBytesConfig, under transformers' names; a pre-quantized folder's
  // quantization_config wins (an explicit contradicting flag is an error).
  std::string bnb_4bit_quant_type = "nf4";
  bool bnb_4bit_use_double_quant = true;  // Qwen's finetune.py
  std::string bnb_4bit_compute_dtype;     // bf16 | fp16 | fp32; empty: from --bf16 / --fp16
  // "fp32": PEFT's prepare_model_for_kbit_training (the non-quantized 16-bit parameters in
  // fp32); "none": they stay in the compute dtype.
  std::string kbit_upcast = "none";
  int64_t lora_r = 64;
  int64_t lora_alpha = 16;
  double lora_dropout = 0.05;
  std::string lora_target_modules = "q_proj,k_proj,v_proj,o_proj,up_proj,gate_proj,down_proj";
  std::string lora_bias = "none";
  std::string lora_weight_path;
  // A PEFT adapter folder to continue training (PeftModel.from_pretrained(..., is_trainable=
  // True)): its adapter_config.json sets r, lora_alpha, lora_dropout, target_modules and
  // use_rslora; it implies --use_lora.
  std::string adapter_name_or_path;
  // Data.
  std::string loss_mask = "assistant";  // assistant | qwen | all (worker/data/loss_mask.h)
  std::string template_name;            // --template; empty: recognised from the tokenizer
  std::string system;                   // --system; empty: the template's default
  // Logging, checkpoints, misc.
  int64_t seed = 42;
  int64_t logging_steps = 500;
  int64_t eval_steps = 0;               // 0: logging_steps, as HF's eval_steps=None
  int64_t early_stopping_patience = 0;  // 0: no early stopping
  std::string save_strategy = "steps";
  int64_t save_steps = 500;
  int64_t save_total_limit = 0;  // 0 = keep every checkpoint (HF's None)
  bool save_on_each_node = false;
  std::string resume_from_checkpoint = "auto";  // auto | none | a checkpoint folder
  int64_t dataloader_num_workers = 0;
  std::string report_to = "none";

  // Names of the arguments a user set (flag or job file), e.g. "learning_rate".
  std::set<std::string> explicitly_set;
  bool IsSet(absl::string_view name) const { return explicitly_set.count(std::string(name)) > 0; }
};

enum class ArgumentType { kBool, kInt, kFloat, kString };

struct ArgumentSpec {
  const char* name;  // without dashes: "lora_r"
  const char* help;
  std::variant<bool TrainingArguments::*, int64_t TrainingArguments::*,
               double TrainingArguments::*, std::string TrainingArguments::*>
      member;
  const char* choices = "";  // '|'-separated allowed values for strings, "" = any

  ArgumentType type() const;
};

// Every argument, in --help order.
const std::vector<ArgumentSpec>& TrainingArgumentSpecs();
const ArgumentSpec* FindArgumentSpec(absl::string_view name);

// The value of one argument as text ("8", "5e-05", "true", "adamw_torch").
std::string ArgumentValueText(const TrainingArguments& args, const ArgumentSpec& spec);

// Parses `text` for the argument `name` (bools accept true/false/1/0/yes/no in any case, as
// HF's string_to_bool) and marks it set. InvalidArgument naming "--name", the value and the
// expected type.
absl::Status SetArgument(TrainingArguments& args, absl::string_view name, absl::string_view text);

// The JSON-object form (a job file's "training_arguments"): keys are argument names; values are
// JSON of the argument's type (integral floats accepted for ints; lora_target_modules may be a
// list). Unknown keys are errors with a did-you-mean. `source` prefixes messages.
absl::Status SetArgumentsFromJson(TrainingArguments& args, const nlohmann::json& object,
                                  absl::string_view source);
nlohmann::json TrainingArgumentsToJson(const TrainingArguments& args);

// The arguments the user set, as "--name" "value" pairs in registry order (what a job file
// becomes on a worker's command line).
std::vector<std::string> ExplicitArgumentFlags(const TrainingArguments& args);

// Reads a job file (`zerotune launch --config FILE`): a JSON object of training arguments
// (DeepSpeed's tolerant JSON). Errors name the file and the key.
absl::StatusOr<TrainingArguments> ReadJobFile(const std::string& path);

// Range and consistency checks (paths are "--flag"): positive batch sizes and lora_r, dropout in
// [0, 1), warmup_ratio in [0, 1], not both --bf16 and --fp16, --q_lora needs --use_lora,
// lora_target_modules parses, choices of optim / lr_scheduler_type / lora_bias / save_strategy,
// --adapter_name_or_path not with an explicit --use_lora false. (Whether the adapter's
// adapter_config.json agrees with --lora_* is checked where it is read: worker/train/
// trainable_model.h.)
void ValidateTrainingArguments(const TrainingArguments& args, Diagnostics& diag);

}  // namespace zt::configs
