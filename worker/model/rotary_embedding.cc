#include "worker/model/rotary_embedding.h"

namespace zt::worker::model {

RotaryTables ComputeRotaryTables(const at::Tensor& positions, int64_t head_dim, double theta,
                                 at::ScalarType dtype) {
  const auto f32 = positions.options().dtype(at::kFloat);
  // As HF: the exponent from an int64 arange cast to fp32, the power in fp32.
  const at::Tensor exponent =
      at::arange(0, head_dim, 2, positions.options().dtype(at::kLong)).to(at::kFloat) /
      static_cast<double>(head_dim);
  const at::Tensor inv_freq = at::pow(at::scalar_tensor(theta, f32), exponent).reciprocal();
  const at::Tensor angles = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;  // [B, S, d/2]
  const at::Tensor emb = at::cat({angles, angles}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor ApplyRotary(const at::Tensor& x, const RotaryTables& tables) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * tables.cos.unsqueeze(1) + rotated * tables.sin.unsqueeze(1);
}

}  // namespace zt::worker::model
