#include "sharding/optim/step_control.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace zt::sharding {
namespace {

LossScalerOptions ScalerOptionsFor(const StepControlOptions& o) {
  if (o.fp16) return o.loss_scaler;
  LossScalerOptions fixed;
  fixed.static_scale = 1.0;
  return fixed;
}

}  // namespace

absl::Status AccumulationWindow::BeginBackward(bool last_micro_batch) {
  if (closed_) {
    return absl::FailedPreconditionError(
        "Backward after the accumulation window's last micro-batch: call Step() first");
  }
  open_ = true;
  closed_ = last_micro_batch;
  return absl::OkStatus();
}

absl::Status AccumulationWindow::CheckClosed() const {
  if (closed_) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "Step() before the accumulation window's last micro-batch (",
      open_ ? "no Backward(loss, /*last_micro_batch=*/true) yet" : "no Backward at all",
      "): the caller closes each window"));
}

absl::Status AccumulationWindow::CheckBetweenWindows(const char* what) const {
  if (!open_) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      what, " runs between accumulation windows; a window holds gradients (call Step() first)"));
}

StepControl::StepControl(StepControlOptions options)
    : options_(std::move(options)), scaler_(ScalerOptionsFor(options_)) {}

at::Tensor StepControl::ScaleLoss(const at::Tensor& loss) const {
  return options_.fp16 ? loss * scaler_.scale() : loss;
}

absl::Status StepControl::Skip(StepResult& result) {
  result.applied = false;
  result.loss_scale = scaler_.scale();
  result.grad_norm = -1.0;
  result.lr = Hyper(applied_steps_ + 1, 0.0).lr;
  result.optimizer_step = applied_steps_;
  ++skipped_steps_;
  if (options_.fp16) ZT_RETURN_IF_ERROR(scaler_.Update(/*overflow=*/true));
  return absl::OkStatus();
}

absl::StatusOr<StepDecision> StepControl::Apply(double scaled_norm, StepResult& result) {
  result.loss_scale = scaler_.scale();
  result.grad_norm = scaled_norm < 0 ? -1.0 : scaled_norm / result.loss_scale;
  StepDecision decision;
  decision.multiplier =
      1.0 / UnscaleAndClipDivisor(scaled_norm, result.loss_scale, options_.gradient_clipping);
  if (options_.fp16) ZT_RETURN_IF_ERROR(scaler_.Update(/*overflow=*/false));
  decision.step = ++applied_steps_;
  result.applied = true;
  result.optimizer_step = decision.step;
  result.lr = Hyper(decision.step, 0.0).lr;
  return decision;
}

AdamWHyper StepControl::Hyper(int64_t step, double weight_decay) const {
  AdamWHyper hyper = AdamWHyperFromConfig(options_.optimizer);
  hyper.weight_decay = weight_decay;
  hyper.step = step;
  if (options_.scheduler != nullptr) {
    hyper.lr = options_.scheduler->LrForOptimizerStep(step);
    if (auto beta1 = options_.scheduler->Beta1ForOptimizerStep(step)) hyper.beta1 = *beta1;
    if (auto beta2 = options_.scheduler->ForcedBeta2()) hyper.beta2 = *beta2;
  }
  return hyper;
}

void StepControl::Restore(int64_t applied_steps, int64_t skipped_steps,
                          const LossScalerState& scaler) {
  applied_steps_ = applied_steps;
  skipped_steps_ = skipped_steps;
  if (options_.fp16) scaler_.Restore(scaler);
}

}  // namespace zt::sharding
