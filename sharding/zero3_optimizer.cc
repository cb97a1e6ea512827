#include "sharding/zero3_optimizer.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "sharding/grad_norm.h"
#include "sharding/loss_scaler.h"
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
  o.gradient_accumulation_steps = c.gradient_accumulation_steps;
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

LossScalerOptions ScalerFor(const Zero3OptimizerOptions& o) {
  if (o.fp16) return o.loss_scaler;
  LossScalerOptions fixed;
  fixed.static_scale = 1.0;
  return fixed;
}

}  // namespace

Zero3Optimizer::Zero3Optimizer(Zero3Parameters* params, Zero3OptimizerOptions options)
    : params_(params), options_(std::move(options)), loss_scaler_(ScalerFor(options_)) {}

absl::StatusOr<std::unique_ptr<Zero3Optimizer>> Zero3Optimizer::Create(
    Zero3Parameters* params, const Zero3OptimizerOptions& options) {
  if (options.gradient_accumulation_steps < 1) {
    return absl::InvalidArgumentError(absl::StrCat("gradient_accumulation_steps is ",
                                                   options.gradient_accumulation_steps,
                                                   ", expected >= 1"));
  }
  std::unique_ptr<Zero3Optimizer> out(new Zero3Optimizer(params, options));
  out->ids_ = params->TrainableIds();
  if (out->ids_.empty()) {
    return absl::InvalidArgumentError("zero3: no trainable parameter (nothing requires grad)");
  }
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

bool Zero3Optimizer::AtAccumulationBoundary() const {
  return (micro_steps_ + 1) % options_.gradient_accumulation_steps == 0;
}

at::Tensor Zero3Optimizer::ScaleLoss(const at::Tensor& loss) const {
  return loss * (loss_scaler_.scale() / static_cast<double>(options_.gradient_accumulation_steps));
}

absl::Status Zero3Optimizer::Backward(const at::Tensor& loss) {
  try {
    ScaleLoss(loss).backward();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("zero3 backward: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::StatusOr<StepResult> Zero3Optimizer::Step() {
  StepResult result;
  result.boundary = AtAccumulationBoundary();
  ++micro_steps_;
  result.optimizer_step = applied_steps_;
  if (!result.boundary) return result;
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (int id : ids_) {
    const at::Tensor grad = params_->GradientPartition(id);  // fp32 for 16-bit parameters
    grads.push_back(grad.defined() ? grad : at::zeros_like(params_->param(id).partition));
  }
  Communicator* comm = &params_->comm();
  // Reduce-scatter spreads any rank's inf/NaN into the partitions, and the norm sums them all:
  // every rank sees the same non-finite norm (-1), so all skip together.
  ZT_ASSIGN_OR_RETURN(const double scaled_norm,
                      GlobalNorm(SquaredNormFp64(grads), comm, params_->Deadline()));
  result.loss_scale = loss_scaler_.scale();
  const bool check = options_.fp16 || (options_.check_grad_overflow &&
                                       params_->param(ids_[0]).dtype == at::kBFloat16);
  if (check && scaled_norm < 0) {
    result.grad_norm = -1.0;
    params_->ZeroGradientPartitions();
    ++skipped_steps_;
    if (options_.fp16) ZT_RETURN_IF_ERROR(loss_scaler_.Update(true));
    ZT_RETURN_IF_ERROR(params_->PartitionsUpdated());
    return result;
  }
  result.grad_norm = scaled_norm < 0 ? -1.0 : scaled_norm / result.loss_scale;
  const double divisor =
      UnscaleAndClipDivisor(scaled_norm, result.loss_scale, options_.gradient_clipping);
  if (options_.fp16) ZT_RETURN_IF_ERROR(loss_scaler_.Update(false));
  const int64_t k = applied_steps_ + 1;
  AdamWHyper hyper = AdamWHyperFromConfig(options_.optimizer);
  hyper.step = k;
  if (options_.scheduler != nullptr) {
    hyper.lr = options_.scheduler->LrForOptimizerStep(k);
    if (auto beta1 = options_.scheduler->Beta1ForOptimizerStep(k)) hyper.beta1 = *beta1;
    if (auto beta2 = options_.scheduler->ForcedBeta2()) hyper.beta2 = *beta2;
  }
  result.lr = hyper.lr;
  for (size_t i = 0; i < ids_.size(); ++i) {
    Zero3Parameter& p = params_->mutable_param(ids_[i]);
    AdamWHyper param_hyper = hyper;
    param_hyper.weight_decay = WeightDecayOf(static_cast<int>(i));
    partitions_[i]->StageGradChunk(0, grads[i], result.phases);
    ZT_RETURN_IF_ERROR(partitions_[i]->StepChunk(0, 1.0 / divisor, param_hyper,
                                                 p.partition.detach(), result.phases));
  }
  params_->ZeroGradientPartitions();
  ++applied_steps_;
  result.applied = true;
  result.optimizer_step = applied_steps_;
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
