// fp16 loss scaling with DeepSpeed's algorithm (runtime/fp16/loss_scaler.py,
// DynamicLossScaler.update_scale with scale_factor 2 and raise_error_at_min_scale, as ZeRO
// uses it). The caller multiplies the loss by scale() before backward, finds whether any rank
// saw inf/NaN in its gradients (all-reduce MAX of the flag), then calls Update(overflow): on
// overflow the optimizer step is skipped (and the LR schedule not advanced).
//
// Not thread-safe: one per engine, driven from the training loop.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace zt::sharding {

struct LossScalerOptions {
  // 0: dynamic scaling starting at 2^initial_scale_power; > 0: this static scale.
  double static_scale = 0.0;
  int initial_scale_power = 16;
  int64_t loss_scale_window = 1000;
  int hysteresis = 2;
  bool consecutive_hysteresis = false;
  double min_loss_scale = 1.0;
};

// The serialisable state (checkpoints resume it exactly).
struct LossScalerState {
  double cur_scale = 1.0;
  int64_t cur_iter = 0;
  int64_t last_overflow_iter = -1;
  int cur_hysteresis = 2;
};

class LossScaler {
 public:
  explicit LossScaler(const LossScalerOptions& options);

  double scale() const { return state_.cur_scale; }
  bool dynamic() const { return options_.static_scale <= 0.0; }

  // Records one optimizer step's global overflow flag and adjusts the scale. Returns
  // FailedPrecondition ("Current loss scale already at minimum ...", as DeepSpeed raises) when
  // an overflow arrives with the scale already at min_loss_scale and the budget spent.
  absl::Status Update(bool overflow);

  const LossScalerState& state() const { return state_; }
  void Restore(const LossScalerState& state) { state_ = state; }

 private:
  LossScalerOptions options_;
  LossScalerState state_;
};

// DeepSpeed's unscale-and-clip divisor for a step (stage_1_and_2.py unscale_and_clip_grads):
// `scaled_norm` is the global L2 norm of the loss-scaled gradients (-1 when not finite);
// the fp32 gradients are multiplied by 1 / divisor. `clipping` <= 0 disables clipping.
double UnscaleAndClipDivisor(double scaled_norm, double loss_scale, double clipping);

}  // namespace zt::sharding
