// What one rank's ZeRO engine runs, from the training arguments and the --deepspeed file:
// the ds_config resolved for this world size with the HF Trainer's "auto" filling (flags that
// contradict concrete ds_config values are errors naming both), or, without --deepspeed, the
// empty config resolved the same way (stage 0, the trainer's AdamW, --max_grad_norm clipping,
// --bf16/--fp16), plus the learning-rate schedule over the job's optimizer steps. Stage 3 fills
// the stage-3 options instead of the stage 0-2 engine's.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "configs/ds_config.h"
#include "configs/training_arguments.h"
#include "sharding/zero/zero3_optimizer.h"
#include "sharding/zero/zero3_parameters.h"
#include "sharding/zero/zero_engine.h"

namespace zt::worker::train {

struct JobConfig {
  configs::DsConfig ds;
  sharding::ZeroEngineOptions engine;              // stages 0-2
  sharding::Zero3ParameterOptions zero3_params;    // stage 3
  sharding::Zero3OptimizerOptions zero3_optimizer;  // stage 3
  int stage() const { return ds.zero.stage; }
};

// The job's gradient_accumulation_steps as the resolved ds_config has it (the flag, or what
// train_batch_size / train_micro_batch_size_per_gpu imply), before the step count is known; the
// flag's value when the config does not resolve (ResolveJobConfig then reports why).
int64_t JobGradientAccumulation(const configs::TrainingArguments& args, int world_size,
                                int64_t hidden_size);

// InvalidArgument listing every problem as "<file or flag>: <json path>: <message>".
absl::StatusOr<JobConfig> ResolveJobConfig(const configs::TrainingArguments& args, int world_size,
                                           int64_t hidden_size, int64_t total_steps);

}  // namespace zt::worker::train
