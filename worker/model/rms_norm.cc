#include "worker/model/rms_norm.h"

namespace zt::worker::model {

at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor x32 = x.to(at::kFloat);
  const at::Tensor inv = at::rsqrt(x32.pow(2).mean({-1}, /*keepdim=*/true) + eps);
  return weight * (x32 * inv).to(x.scalar_type());
}

}  // namespace zt::worker::model
