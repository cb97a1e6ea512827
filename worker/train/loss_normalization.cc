#include "worker/train/loss_normalization.h"

#include <ATen/ATen.h>

namespace zt::worker::train {

at::Tensor LossNormalization::Normalize(const at::Tensor& summed, int64_t targets) const {
  if (per_token) return global_targets > 0 ? summed * (world / global_targets) : summed * 0.0;
  return targets > 0 ? summed / (static_cast<double>(targets) * window) : summed * 0.0;
}

}  // namespace zt::worker::train
