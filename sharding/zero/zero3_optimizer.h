// The ZeRO stage 3 optimizer over the trainable partitions of a Zero3Parameters
// (docs/training.md): backward leaves in every trainable partition's .grad this rank's piece of the
// rank-averaged gradient (reduce-scattered per micro-step by the gather's backward, accumulated
// over the window); at the accumulation boundary the global norm is summed in fp64 over the
// disjoint partitions of all ranks, clipping is one multiplier (loss_scaler.h
// UnscaleAndClipDivisor, through step_control.h), and each partition steps AdamW on its own master and moments
// (optimizer_offload.h OptimizerPartition: fp32 masters for 16-bit parameters, fp64 for fp64,
// on the device or, with offload_optimizer, on the host). Updated partitions are not
// all-gathered: the next forward gathers them just in time (Zero3Parameters::PartitionsUpdated
// drops stale gathers and refreshes the persistent tensors).
//
// Precision: fp32/fp64 and bf16 parameters; with bf16 and check_grad_overflow a step whose
// gradients are not finite on any rank is skipped (DeepSpeed's bf16.check_grad_overflow);
// fp16 parameters with fp16.enabled: the loss is multiplied by the loss scale, a step whose
// gradients overflowed on any rank is skipped and the scale follows DeepSpeed's dynamic
// algorithm (loss_scaler.h), unscaling divides by the scale the gradients carried. Weight decay: the optimizer's for the parameters the HF Trainer decays, 0 for
// biases and norms (parameter_groups.h, the stage 0-2 engine's DecayParameterGroups), or the
// optimizer's for all with hf_decay_groups = false. Not thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "configs/ds_config.h"
#include "sharding/optim/loss_scaler.h"
#include "sharding/optim/lr_scheduler.h"
#include "sharding/optim/step_control.h"
#include "sharding/zero/optimizer_offload.h"
#include "sharding/zero/training_engine.h"
#include "sharding/zero/zero3_parameters.h"

namespace zt::sharding {

struct Zero3OptimizerOptions {
  double gradient_clipping = 0.0;  // 0 disables
  configs::OptimizerConfig optimizer;
  OffloadOptions offload;                        // offload_optimizer
  std::shared_ptr<const LrScheduler> scheduler;  // null: constant optimizer.lr
  bool hf_decay_groups = true;
  bool check_grad_overflow = true;  // bf16 parameters only
  bool fp16 = false;                // fp16.enabled: Half parameters, loss scaling
  LossScalerOptions loss_scaler;    // fp16 only
};

// The options a resolved ds_config asks for at stage 3. InvalidArgument naming the key for what
// this optimizer does not run: a stage other than 3, a non-Adam optimizer.
absl::StatusOr<Zero3OptimizerOptions> Zero3OptimizerOptionsFromDsConfig(
    const configs::DsConfig& config);

class Zero3Optimizer final : public TrainingEngine {
 public:
  // `params` must outlive the optimizer. InvalidArgument for no trainable parameter, or an fp16
  // one without fp16.enabled (naming it).
  static absl::StatusOr<std::unique_ptr<Zero3Optimizer>> Create(Zero3Parameters* params,
                                                                const Zero3OptimizerOptions& options);

  // loss * loss_scale (fp16; the loss itself otherwise).
  at::Tensor ScaleLoss(const at::Tensor& loss) const { return control_.ScaleLoss(loss); }
  // ScaleLoss(loss).backward() (every micro-batch reduce-scatters its gradients); a failed
  // collective inside backward comes back as Internal carrying its message.
  absl::Status Backward(const at::Tensor& loss, bool last_micro_batch) override;
  absl::StatusOr<StepResult> Step() override;
  int stage() const override { return 3; }
  bool offloads_optimizer() const override { return options_.offload.offload; }
  std::string OptimizerName() const override;
  int64_t skipped_steps() const { return control_.skipped_steps(); }
  double loss_scale() const { return control_.loss_scale(); }

  // Checkpoint state (training_engine.h): one group per weight decay
  // (HF Trainer's decay group first), parameters in first-use order, each cut in ceil(n / W)
  // pieces (bucket_numel 0); a tied parameter is named by its first slot.
  std::vector<StateGroupLayout> StateLayout() const override;
  std::vector<ParamPiece> PartitionPieces(int group, int partition_rank) const override;
  StateCounters StateCountersNow() const override;
  absl::StatusOr<std::vector<StateSlice>> StateSlices() override;
  // Also refreshes Zero3Parameters (PartitionsUpdated: persistent tensors, stale gathers).
  absl::Status ImportState(const StateCounters& counters, const StateSliceFill& fill) override;

  // Bytes of masters, moments and master-dtype gradients this rank holds.
  int64_t OptimizerStateBytes() const;

 private:
  Zero3Optimizer(Zero3Parameters* params, Zero3OptimizerOptions options);
  double WeightDecayOf(int index) const;  // index into ids_
  // ids_ indices per StateLayout group.
  std::vector<std::vector<int>> StateGroups() const;

  Zero3Parameters* params_;
  Zero3OptimizerOptions options_;
  std::vector<int> ids_;  // trainable parameters
  std::vector<std::unique_ptr<OptimizerPartition>> partitions_;
  StepControl control_;
  AccumulationWindow window_;
};

}  // namespace zt::sharding
