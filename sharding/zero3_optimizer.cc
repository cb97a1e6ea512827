#include "sharding/zero3_optimizer.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "sharding/grad_norm.h"
#include "sharding/parameter_groups.h"
#include "sharding/zero_engine.h"

namespace zt::sharding {

absl::StatusOr<Zero3OptimizerOptions> Zero3OptimizerOptionsFromDsConfig(
    const configs::DsConfig& c) {
  if (c.zero.stage != 3) {
    return absl::InvalidArgumentError(absl::StrCat("zero_optimization.stage is ", c.zero.stage,
                                                   "; the stage-3 optimizer runs stage 3"));
  }
  if (c.optimizer.type != "Adam" && c.optimizer.type != "AdamW") {
    return absl::InvalidArgumentError(absl::StrCat("optimizer.type is \"", c.optimizer.type,
                                                   "\"; the ZeRO engine runs Adam and AdamW"));
  }
  Zero3OptimizerOptions o;
  o.gradient_clipping = c.gradient_clipping;
  o.optimizer = c.optimizer;
  o.offload.offload = c.zero.offload_optimizer.device == configs::OffloadDevice::kCpu;
  o.offload.pin_memory = c.zero.offload_optimizer.pin_memory;
  o.check_grad_overflow = c.bf16.check_grad_overflow;
  o.fp16 = c.fp16.enabled;
  if (o.fp16) o.loss_scaler = LossScalerOptionsFromDsConfig(c);
  return o;
}

namespace {

StepControlOptions StepControlOptionsFor(const Zero3OptimizerOptions& o, at::ScalarType dtype) {
  StepControlOptions c;
  c.optimizer = o.optimizer;
  c.scheduler = o.scheduler;
  c.gradient_clipping = o.gradient_clipping;
  c.fp16 = o.fp16;
  c.loss_scaler = o.loss_scaler;
  c.skip_non_finite = o.fp16 || (o.check_grad_overflow && dtype == at::kBFloat16);
  return c;
}

}  // namespace

Zero3Optimizer::Zero3Optimizer(Zero3Parameters* params, Zero3OptimizerOptions options)
    : params_(params), options_(std::move(options)),
      control_(StepControlOptionsFor(options_, params->param(params->TrainableIds().at(0)).dtype)) {}

absl::StatusOr<std::unique_ptr<Zero3Optimizer>> Zero3Optimizer::Create(
    Zero3Parameters* params, const Zero3OptimizerOptions& options) {
  if (params->TrainableIds().empty()) {
    return absl::InvalidArgumentError("zero3: no trainable parameter (nothing requires grad)");
  }
  std::unique_ptr<Zero3Optimizer> out(new Zero3Optimizer(params, options));
  out->ids_ = params->TrainableIds();
  for (int id : out->ids_) {
    const Zero3Parameter& p = params->param(id);
    if ((p.dtype == at::kHalf) != options.fp16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "zero3: parameter \"", p.names[0], "\" is ", c10::toString(p.dtype), " but fp16.enabled is ",
          options.fp16 ? "true (expected Half parameters)" : "false (Half parameters need fp16 loss scaling)"));
    }
    out->partitions_.push_back(
        std::make_unique<OptimizerPartition>(p.partition.detach(), options.offload));
  }
  return out;
}

absl::Status Zero3Optimizer::Backward(const at::Tensor& loss, bool last_micro_batch) {
  ZT_RETURN_IF_ERROR(window_.BeginBackward(last_micro_batch));
  try {
    ScaleLoss(loss).backward();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("zero3 backward: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::StatusOr<StepResult> Zero3Optimizer::Step() {
  ZT_RETURN_IF_ERROR(window_.CheckClosed());
  window_.End();
  StepResult result;
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (int id : ids_) {
    const at::Tensor grad = params_->GradientPartition(id);  // fp32 for 16-bit parameters
    grads.push_back(grad.defined() ? grad : at::zeros_like(params_->param(id).partition));
  }
  // Reduce-scatter spreads any rank's inf/NaN into the partitions, and the norm sums them all:
  // every rank sees the same non-finite norm (-1), so all skip together.
  ZT_ASSIGN_OR_RETURN(const double scaled_norm,
                      GlobalNorm(SquaredNormFp64(grads), &params_->comm(), params_->Deadline()));
  if (control_.skips_non_finite() && scaled_norm < 0) {
    ZT_RETURN_IF_ERROR(control_.Skip(result));
    params_->ZeroGradientPartitions();
    ZT_RETURN_IF_ERROR(params_->PartitionsUpdated());
    return result;
  }
  ZT_ASSIGN_OR_RETURN(const StepDecision decision, control_.Apply(scaled_norm, result));
  for (size_t i = 0; i < ids_.size(); ++i) {
    Zero3Parameter& p = params_->mutable_param(ids_[i]);
    const AdamWHyper hyper = control_.Hyper(decision.step, WeightDecayOf(static_cast<int>(i)));
    partitions_[i]->StageGradChunk(0, grads[i], result.phases);
    ZT_RETURN_IF_ERROR(partitions_[i]->StepChunk(0, decision.multiplier, hyper,
                                                 p.partition.detach(), result.phases));
  }
  params_->ZeroGradientPartitions();
  ZT_RETURN_IF_ERROR(params_->PartitionsUpdated());
  return result;
}

double Zero3Optimizer::WeightDecayOf(int index) const {
  const bool decays = !options_.hf_decay_groups || HasWeightDecay(params_->param(ids_[index]).names[0]);
  return decays ? options_.optimizer.weight_decay : 0.0;
}

std::string Zero3Optimizer::OptimizerName() const { return partitions_[0]->optimizer_name(); }

int64_t Zero3Optimizer::OptimizerStateBytes() const {
  int64_t bytes = 0;
  for (const auto& partition : partitions_) bytes += partition->bytes();
  return bytes;
}

}  // namespace zt::sharding
