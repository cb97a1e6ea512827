// RMSNorm as HF's Qwen2RMSNorm / LlamaRMSNorm: normalise in fp32, cast back to the input dtype,
// then multiply by the weight: weight * (x / sqrt(mean(x^2, -1) + eps)).to(x.dtype).
#pragma once

#include <ATen/ATen.h>

namespace zt::worker::model {

// `x` [..., n], `weight` [n]. Differentiable; the result has the promoted dtype of weight and x.
at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps);

}  // namespace zt::worker::model
