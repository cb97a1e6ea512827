// The ZeRO stage 3 optimizer over the trainable partitions of a Zero3Parameters (deepspeed.md
// §9.3, §9.4): backward leaves in every trainable partition's .grad this rank's piece of the
// rank-averaged gradient (reduce-scattered per micro-step by the gather's backward, accumulated
// over the window); at the accumulation boundary the global norm is summed in fp64 over the
// disjoint partitions of all ranks, clipping is one multiplier (loss_scaler.h
// UnscaleAndClipDivisor), and each partition steps AdamW on its own master and moments
// (optimizer_offload.h OptimizerPartition: fp32 masters for 16-bit parameters, fp64 for fp64,
// on the device or, with offload_optimizer, on the host). Updated partitions are not
// all-gathered: the next forward gathers them just in time (Zero3Parameters::PartitionsUpdated
// drops stale gathers and refreshes the persistent tensors).
//
// Precision: fp32/fp64 parameters, and bf16 without overflow check; fp16 (dynamic loss scaling)
// is rejected. Weight decay: the optimizer's for the parameters the HF Trainer decays, 0 for
// biases and norms (parameter_groups.h, the stage 0-2 engine's DecayParameterGroups), or the
// optimizer's for all with hf_decay_groups = false. Not thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "configs/ds_config.h"
#include "sharding/lr_scheduler.h"
#include "sharding/optimizer_offload.h"
#include "sharding/zero3_parameters.h"
#include "sharding/zero_engine.h"

namespace zt::sharding {

struct Zero3OptimizerOptions {
  int64_t gradient_accumulation_steps = 1;
  double gradient_clipping = 0.0;  // 0 disables
  configs::OptimizerConfig optimizer;
  OffloadOptions offload;                        // offload_optimizer
  std::shared_ptr<const LrScheduler> scheduler;  // null: constant optimizer.lr
  bool hf_decay_groups = true;
};

// The options a resolved ds_config asks for at stage 3. InvalidArgument naming the key for what
// this optimizer does not run: a stage other than 3, fp16, a non-Adam optimizer.
absl::StatusOr<Zero3OptimizerOptions> Zero3OptimizerOptionsFromDsConfig(
    const configs::DsConfig& config);

class Zero3Optimizer {
 public:
  // `params` must outlive the optimizer. InvalidArgument for gradient_accumulation_steps < 1,
  // no trainable parameter, or an fp16 one (naming it).
  static absl::StatusOr<std::unique_ptr<Zero3Optimizer>> Create(Zero3Parameters* params,
                                                                const Zero3OptimizerOptions& options);

  bool AtAccumulationBoundary() const;
  // loss / gradient_accumulation_steps.
  at::Tensor ScaleLoss(const at::Tensor& loss) const;
  // ScaleLoss(loss).backward(); a failed collective inside backward comes back as Internal
  // carrying its message.
  absl::Status Backward(const at::Tensor& loss);
  // Every micro-step; the optimizer step at the boundary (StepResult as zero_engine.h).
  absl::StatusOr<StepResult> Step();

  // Bytes of masters, moments and master-dtype gradients this rank holds.
  int64_t OptimizerStateBytes() const;

 private:
  Zero3Optimizer(Zero3Parameters* params, Zero3OptimizerOptions options);

  Zero3Parameters* params_;
  Zero3OptimizerOptions options_;
  std::vector<int> ids_;  // trainable parameters
  std::vector<std::unique_ptr<OptimizerPartition>> partitions_;
  int64_t micro_steps_ = 0;
  int64_t applied_steps_ = 0;
};

}  // namespace zt::sharding
