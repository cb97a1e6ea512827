#include "sharding/zero/zero_engine_options.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace zt::sharding {

absl::Status CheckZeroEngineOptions(const ZeroEngineOptions& o) {
  if (o.stage < 0 || o.stage > 2) {
    return absl::InvalidArgumentError(absl::StrCat("zero_optimization.stage is ", o.stage,
                                                   "; this engine runs stages 0, 1 and 2"));
  }
  if (o.reduce_bucket_numel < 1) {
    return absl::InvalidArgumentError(absl::StrCat("zero_optimization.reduce_bucket_size is ",
                                                   o.reduce_bucket_numel, "; expected >= 1"));
  }
  if (o.async_offload_step && !o.offload.offload) {
    return absl::InvalidArgumentError(
        "zero engine: async_offload_step needs zero_optimization.offload_optimizer.device "
        "\"cpu\" (it overlaps the CPU optimizer step with the next forward)");
  }
  if (o.gradient_clipping < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("gradient_clipping is ", o.gradient_clipping, "; expected >= 0 (0 disables)"));
  }
  return absl::OkStatus();
}

LossScalerOptions LossScalerOptionsFromDsConfig(const configs::DsConfig& c) {
  LossScalerOptions o;
  o.static_scale = c.fp16.loss_scale;
  o.initial_scale_power = static_cast<int>(c.fp16.initial_scale_power);
  o.loss_scale_window = c.fp16.loss_scale_window;
  o.hysteresis = static_cast<int>(c.fp16.hysteresis);
  o.consecutive_hysteresis = c.fp16.consecutive_hysteresis;
  o.min_loss_scale = static_cast<double>(c.fp16.min_loss_scale);
  return o;
}

absl::StatusOr<ZeroEngineOptions> ZeroEngineOptionsFromDsConfig(const configs::DsConfig& c) {
  ZeroEngineOptions o;
  o.stage = c.zero.stage;
  o.reduce_bucket_numel = c.zero.reduce_bucket_numel;
  o.overlap_comm = c.zero.overlap_comm;
  o.offload.offload = c.zero.offload_optimizer.device == configs::OffloadDevice::kCpu;
  o.offload.pin_memory = c.zero.offload_optimizer.pin_memory;
  // overlap_comm with the optimizer on the CPU: the CPU step overlaps the next forward.
  o.async_offload_step = o.offload.offload && o.overlap_comm;
  o.gradient_clipping = c.gradient_clipping;
  o.optimizer = c.optimizer;
  if (c.fp16.enabled) {
    o.precision = Precision::kFp16;
    o.loss_scaler = LossScalerOptionsFromDsConfig(c);
  } else if (c.bf16.enabled) {
    o.precision = Precision::kBf16;
    o.check_grad_overflow = c.bf16.check_grad_overflow;
  }
  if (o.optimizer.type != "Adam" && o.optimizer.type != "AdamW") {
    return absl::InvalidArgumentError(absl::StrCat("optimizer.type is \"", o.optimizer.type,
                                                   "\"; the ZeRO engine runs Adam and AdamW"));
  }
  ZT_RETURN_IF_ERROR(CheckZeroEngineOptions(o));
  return o;
}

}  // namespace zt::sharding
