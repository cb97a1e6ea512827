// The HF Trainer's DeepSpeed integration (transformers/integrations/deepspeed.py,
// HfTrainerDeepSpeedConfig.trainer_config_process/_finalize): "auto" values in a ds_config are
// replaced by training-argument values, and a concrete ds_config value that differs from a
// training argument is an error naming both. zerotune differs from HF in one way: only
// arguments the user set (TrainingArguments::explicitly_set) are checked against concrete
// ds_config values, so a config with "train_micro_batch_size_per_gpu": 2 is not at odds with the
// default --per_device_train_batch_size 8 nobody typed.
//
//   train_micro_batch_size_per_gpu  <- per_device_train_batch_size
//   gradient_accumulation_steps     <- gradient_accumulation_steps
//   train_batch_size                <- world_size * micro batch * accumulation (after the two)
//   gradient_clipping               <- max_grad_norm
//   optimizer.params.lr/betas/eps/weight_decay <- learning_rate/[adam_beta1, adam_beta2]/
//                                                 adam_epsilon/weight_decay
//   scheduler.params.warmup_min_lr  <- 0 (never checked)
//   scheduler.params.warmup_max_lr  <- learning_rate
//   scheduler.params.total_num_steps, warmup_num_steps <- num_training_steps and
//                                      warmup_steps or ceil(warmup_ratio * num_training_steps)
//   fp16.enabled / bf16.enabled     <- --fp16 / --bf16
//   zero_optimization.reduce_bucket_size <- hidden_size^2; stage 3 only:
//   stage3_prefetch_bucket_size <- int(0.9 * hidden_size^2), stage3_param_persistence_threshold
//   <- 10 * hidden_size (never checked)
//   checkpoint.use_node_local_storage <- true with --save_on_each_node
//
// Also as the Trainer does: without an "optimizer" block the trainer's optimizer (--optim, an
// AdamW) is written in from the arguments and zero_allow_untested_optimizer is set. Beyond HF:
// a config with none of the three batch keys takes micro batch and accumulation from the
// arguments, and --bf16/--fp16 given for a config without that block add {"enabled": true}.
// "auto" values that cannot be resolved yet (steps unknown before the dataset is read, hidden
// size without a model) are left in place with a warning naming them.
#pragma once

#include <cstdint>
#include <optional>

#include "configs/diagnostics.h"
#include "configs/training_arguments.h"
#include "nlohmann/json.hpp"

namespace zt::configs {

struct AutoContext {
  const TrainingArguments* args = nullptr;      // required
  int64_t world_size = 1;                       // data-parallel ranks
  std::optional<int64_t> hidden_size;           // model.config.hidden_size when known
  std::optional<int64_t> num_training_steps;    // optimizer steps when known (--max_steps > 0)
};

// Rewrites `config` (the raw ds_config object) in place.
void ResolveHfAuto(nlohmann::json& config, const AutoContext& context, Diagnostics& diag);

// Warm-up steps for `num_training_steps`, as HF's get_warmup_steps and its DeepSpeed filling
// do: warmup_steps >= 1 counts steps, 0 < warmup_steps < 1 is a ratio (transformers 5.x), else
// ceil(warmup_ratio * steps) (transformers 4.x); at least 1, as transformers >= 5 fills it for
// DeepSpeed >= 0.19.6, which rejects a non-positive warmup_num_steps.
int64_t WarmupSteps(const TrainingArguments& args, int64_t num_training_steps);

}  // namespace zt::configs
