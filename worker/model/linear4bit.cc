#include "worker/model/linear4bit.h"

namespace zt::worker::model {

at::Tensor Linear4bit::Forward(const at::Tensor& x, bool training) const {
  return Linear4bitForward(weight, bias, compute_dtype, lora, matmul, x, training);
}

at::Tensor Linear4bitForward(const Packed4bitWeight& weight, const at::Tensor& bias,
                             at::ScalarType compute_dtype, const std::optional<LoraAdapter>& lora,
                             const Matmul4bitOptions& matmul, const at::Tensor& x, bool training) {
  // bitsandbytes casts the bias to the compute dtype (in place, once); the values are the same.
  const at::Tensor b = bias.defined() ? bias.detach().to(compute_dtype) : bias;
  const at::Tensor result = Matmul4bit(x.to(compute_dtype), weight, b, matmul).to(x.scalar_type());
  if (!lora.has_value()) return result;
  return result + lora->Delta(x, training).to(result.scalar_type());
}

}  // namespace zt::worker::model
