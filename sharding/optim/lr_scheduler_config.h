// The learning-rate schedule a job runs, from its resolved ds_config and training arguments:
// the ds_config's "scheduler" block when it has one (DeepSpeed's WarmupLR, WarmupDecayLR,
// WarmupCosineLR, OneCycle, LRRangeTest with DeepSpeed's parameter names and defaults), else
// the HF Trainer's --lr_scheduler_type with --warmup_steps / --warmup_ratio over the job's
// optimizer steps. Torch-free.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "configs/ds_config.h"
#include "configs/training_arguments.h"
#include "sharding/optim/lr_scheduler.h"

namespace zt::sharding {

// `total_steps`: the job's optimizer steps (HF's max_steps). InvalidArgument naming
// "scheduler.params.<key>" for a parameter of the wrong type or an "auto" left unresolved, and
// "--lr_scheduler_type" for an HF schedule zerotune does not run (listing those it does).
absl::StatusOr<std::unique_ptr<LrScheduler>> MakeJobScheduler(const configs::DsConfig& ds,
                                                              const configs::TrainingArguments& args,
                                                              int64_t total_steps);

}  // namespace zt::sharding
