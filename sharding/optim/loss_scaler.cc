#include "sharding/optim/loss_scaler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace zt::sharding {

LossScaler::LossScaler(const LossScalerOptions& options) : options_(options) {
  state_.cur_scale = dynamic() ? std::ldexp(1.0, options.initial_scale_power) : options.static_scale;
  state_.cur_hysteresis = options.hysteresis;
}

absl::Status LossScaler::Update(bool overflow) {
  if (!dynamic()) return absl::OkStatus();  // a static scale never moves; overflow steps are still skipped
  LossScalerState& s = state_;
  if (overflow) {
    if (options_.hysteresis == 1 || s.cur_hysteresis == 1) {
      if (s.cur_scale == options_.min_loss_scale) {
        return absl::FailedPreconditionError(absl::StrCat(
            "Current loss scale already at minimum (", options_.min_loss_scale,
            ") - cannot decrease scale anymore; hint: the fp16 run diverged: lower the learning rate, use bf16, or "
            "lower fp16.min_loss_scale"));
      }
      s.cur_scale = std::max(s.cur_scale / 2.0, options_.min_loss_scale);
    } else {
      s.cur_hysteresis -= 1;  // delayed shift: the scale holds, the step is still skipped
    }
    s.last_overflow_iter = s.cur_iter;
  } else {
    if (options_.consecutive_hysteresis) s.cur_hysteresis = options_.hysteresis;
    const int64_t stable = s.cur_iter - s.last_overflow_iter - 1;
    if (stable > 0 && stable % options_.loss_scale_window == 0) {
      if (!options_.consecutive_hysteresis) s.cur_hysteresis = options_.hysteresis;
      s.cur_scale *= 2.0;
    }
  }
  s.cur_iter += 1;
  return absl::OkStatus();
}

double UnscaleAndClipDivisor(double scaled_norm, double loss_scale, double clipping) {
  double combined = loss_scale;
  if (clipping > 0.0) {
    const double clip = ((scaled_norm / loss_scale) + 1e-6) / clipping;
    if (clip > 1.0) combined = clip * loss_scale;
  }
  return combined;
}

}  // namespace zt::sharding
