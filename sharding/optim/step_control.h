// What decides each optimizer step besides the gradients, one piece for both ZeRO engines
// (zero_engine.h stages 0-2, zero3_optimizer.h stage 3): the applied and skipped step counters
// (Adam's t and the schedule position count applied steps only), the fp16 loss scaler, the skip
// of a step whose gradients are not finite, the unscale-and-clip multiplier and the
// hyper-parameters of the k-th applied step (docs/training.md).
//
// An engine's Step() asks the control once: Skip() when some rank overflowed, else
// Apply(global norm of the loss-scaled gradients), then steps every partition with
// Hyper(decision.step, its weight decay) and multiplies the gradients by decision.multiplier.
// Not thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "configs/ds_config.h"
#include "sharding/optim/adamw_step.h"
#include "sharding/optim/loss_scaler.h"
#include "sharding/optim/lr_scheduler.h"
#include "sharding/zero/optimizer_offload.h"

namespace zt::sharding {

// What one Step() did, as the training loop logs it.
struct StepResult {
  bool applied = false;        // false: overflow, the step was skipped (and counted)
  double grad_norm = 0.0;      // global norm of the unscaled gradient before clipping (-1: not finite)
  double loss_scale = 1.0;     // the scale this step's gradients carried
  double lr = 0.0;             // the learning rate the step used (its schedule value if skipped)
  int64_t optimizer_step = 0;  // applied steps so far
  StepPhaseTimes phases;
};

struct StepControlOptions {
  configs::OptimizerConfig optimizer;
  std::shared_ptr<const LrScheduler> scheduler;  // null: constant optimizer.lr
  double gradient_clipping = 0.0;                // 0 disables
  bool fp16 = false;                             // loss scaling (loss_scaler) on
  LossScalerOptions loss_scaler;                 // fp16 only
  // Whether a step whose gradients are not finite is skipped: always with fp16, with bf16 when
  // bf16.check_grad_overflow; fp32 steps run (and go NaN) as DeepSpeed's do.
  bool skip_non_finite = false;
};

struct StepDecision {
  int64_t step = 0;         // the applied step's number k (1-based)
  double multiplier = 1.0;  // gradients * multiplier are unscaled and clipped
};

// Where the caller stands in its accumulation window, for the order checks of
// training_engine.h: backwards open it, the one flagged last closes it, Step() ends it.
class AccumulationWindow {
 public:
  // FailedPrecondition for a backward after the window's last micro-batch (Step() first).
  absl::Status BeginBackward(bool last_micro_batch);
  // FailedPrecondition unless the last micro-batch's backward ran.
  absl::Status CheckClosed() const;
  void End() { open_ = closed_ = false; }
  // FailedPrecondition naming `what` while a window holds gradients (checkpoint export/import).
  absl::Status CheckBetweenWindows(const char* what) const;
  bool open() const { return open_; }
  bool closed() const { return closed_; }

 private:
  bool open_ = false;    // a backward ran since the last Step()
  bool closed_ = false;  // ... and the last one was flagged last_micro_batch
};

class StepControl {
 public:
  explicit StepControl(StepControlOptions options);

  double loss_scale() const { return scaler_.scale(); }
  // loss * loss_scale: the only scaling an engine applies to the loss (1 unless fp16).
  at::Tensor ScaleLoss(const at::Tensor& loss) const;
  bool skips_non_finite() const { return options_.skip_non_finite; }

  // The step is skipped because some rank's gradients overflowed: counts it, lowers the fp16
  // scale (FailedPrecondition at the minimum, as DeepSpeed raises) and fills `result`.
  absl::Status Skip(StepResult& result);
  // The step is applied: `scaled_norm` is the global norm of the loss-scaled gradients (-1 when
  // not finite). Advances the scaler and the applied counter, fills `result` (grad_norm,
  // loss_scale, lr, applied, optimizer_step) and returns the step number and multiplier.
  absl::StatusOr<StepDecision> Apply(double scaled_norm, StepResult& result);
  // Adam's hyper-parameters for applied step k with a group's weight decay (the schedule's lr
  // and, with a OneCycle schedule, beta1 and a forced beta2).
  AdamWHyper Hyper(int64_t step, double weight_decay) const;

  int64_t applied_steps() const { return applied_steps_; }
  int64_t skipped_steps() const { return skipped_steps_; }
  const LossScaler& loss_scaler() const { return scaler_; }
  // A checkpoint's counters (the scaler state only with fp16: others keep their fixed scale 1).
  void Restore(int64_t applied_steps, int64_t skipped_steps, const LossScalerState& scaler);

 private:
  StepControlOptions options_;
  LossScaler scaler_;
  int64_t applied_steps_ = 0;
  int64_t skipped_steps_ = 0;
};

}  // namespace zt::sharding
