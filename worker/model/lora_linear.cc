#include "worker/model/lora_linear.h"

#include "common/torch_compat.h"
#include "worker/model/linear4bit.h"

namespace zt::worker::model {

at::Tensor LoraAdapter::DeltaWeight() const {
  return at::matmul(b.to(at::kFloat), a.to(at::kFloat)) * scaling;
}

at::Tensor LoraAdapter::Delta(const at::Tensor& x, bool training) const {
  const at::ScalarType dtype = a.scalar_type();
  const at::ScalarType compute = common::MatmulComputeDtype(dtype, a.device());
  at::Tensor h = x.to(dtype);
  if (compute != dtype) {
    h = h.to(compute);
    if (training && dropout > 0) h = at::dropout(h, dropout, /*train=*/true);
    return (at::linear(at::linear(h, a.to(compute)), b.to(compute)) * scaling).to(dtype);
  }
  if (training && dropout > 0) h = at::dropout(h, dropout, /*train=*/true);
  return at::linear(at::linear(h, a), b) * scaling;
}

at::Tensor Linear::Forward(const at::Tensor& x, bool training) const {
  if (base4bit.has_value()) {
    return Linear4bitForward(base4bit->weight, bias, base4bit->compute_dtype, lora,
                             base4bit->matmul, x, training);
  }
  const at::ScalarType compute = common::MatmulComputeDtype(x.scalar_type(), x.device());
  at::Tensor y;
  if (compute == x.scalar_type()) {
    y = at::linear(x, weight, bias);
  } else {  // e.g. fp16 on a CPU LibTorch without half matmul
    y = at::linear(x.to(compute), weight.to(compute), bias.defined() ? bias.to(compute) : bias)
            .to(x.scalar_type());
  }
  if (!lora.has_value()) return y;
  const at::Tensor delta = lora->Delta(x, training);
  return (y + delta).to(y.scalar_type());  // PEFT adds in the promoted dtype, then casts
}

}  // namespace zt::worker::model
